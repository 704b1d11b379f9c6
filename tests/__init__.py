"""v23py's trial suite.

Every temporary file or directory the tests, their helpers and the programs they start
create (tempfile's, and the log files Go's and our glog write to $TMPDIR) lands in one
directory per test process, removed when that process exits: a suite run leaves nothing
in /tmp even where a test forgets to clean up or a daemon is killed mid-write.
"""
import atexit
import os
import shutil
import tempfile

# Daemons started by tests never sync their clocks with an NTP server off this
# machine (syncbased reads V23PY_NTP_HOST; vclock tests start a fake one).
os.environ.setdefault("V23PY_NTP_HOST", "")

_TMP = tempfile.mkdtemp(prefix="v23py-tests-")
os.environ["TMPDIR"] = _TMP
tempfile.tempdir = _TMP
atexit.register(shutil.rmtree, _TMP, True)

# Property tests check what is generated, not how fast: Hypothesis's per-example deadline
# and its "input generation is slow" health check fail on a loaded host (CI runs two
# suites side by side on two cores) without anything being wrong.  One profile for the
# whole suite; a test's own @settings changes only what it names.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("v23py-suite", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("v23py-suite")
