"""Run the whole trial suite and finish with one plain totals line.

This is the README's test command: it runs `python -m twisted.trial tests`,
passes its output through, and ends with `N passed, N failed, N skipped`.
The exit code is trial's.
"""
import os
import re
import subprocess
import sys


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv) or ["tests"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "twisted.trial", *args], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = []
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        tail.append(line)
        del tail[:-20]
    rc = proc.wait()
    counts = {}
    for line in tail:
        m = re.match(r"^(PASSED|FAILED) \((.*)\)\s*$", line.strip())
        if m:
            for part in m.group(2).split(","):
                k, _, v = part.strip().partition("=")
                counts[k] = int(v)
    passed = counts.get("successes", 0)
    failed = counts.get("failures", 0) + counts.get("errors", 0) + counts.get("unexpectedSuccesses", 0)
    skipped = counts.get("skips", 0)
    if not counts and rc != 0:
        failed = max(failed, 1)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return rc


if __name__ == "__main__":
    sys.exit(main())
