import os

# Daemons started by tests never sync their clocks with an NTP server off this
# machine (syncbased reads V23PY_NTP_HOST; vclock tests start a fake one).
os.environ.setdefault("V23PY_NTP_HOST", "")
