"""Run the whole trial suite and finish with one plain totals line.

This is the README's test command: it runs `python -m twisted.trial tests`
(or the trial arguments given), passes its output through, lists every skipped
test by name with its reason, and ends with `N passed, N failed, N skipped`.

Skips are checked against the allow-list `tests/allowed_skips.txt`.  With `CI`
set in the environment a skip that is not on the list counts as a failure (a
green run must not hide a Go peer that did not build, a missing ../shared or a
server that did not start); outside CI it stays a skip and is reported loudly.
The exit code is non-zero when anything failed.
"""
import fnmatch
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOW_LIST = (os.environ.get("V23PY_ALLOWED_SKIPS")      # (another list: for its own tests)
              or os.path.join(ROOT, "tests", "allowed_skips.txt"))

# Runs inside the trial process: every skip, with its test id and reason, is also
# appended to $V23PY_SKIP_LOG as one JSON line (trial's own summary groups skips by
# reason in free text, which cannot be read back reliably).  Failures and errors are
# logged the same way so that the totals never depend on parsing trial's output.
_CHILD = r"""
import json, os, sys
from twisted.trial import reporter

_log = os.environ["V23PY_SKIP_LOG"]

def _write(kind, test, reason=""):
    with open(_log, "a") as f:
        f.write(json.dumps({"kind": kind, "id": test.id(), "reason": reason}) + "\n")

def _wrap(name, kind, reason_at):
    orig = getattr(reporter.Reporter, name)
    def method(self, test, *args, **kw):
        if reason_at is None:
            _write(kind, test)
        else:
            r = kw.get("todo", args[reason_at] if len(args) > reason_at else "")
            r = getattr(r, "value", r)
            _write(kind, test, str(getattr(r, "reason", r)))
        return orig(self, test, *args, **kw)
    setattr(reporter.Reporter, name, method)

_wrap("addSkip", "skip", 0)
_wrap("addSuccess", "pass", None)
_wrap("addFailure", "fail", None)
_wrap("addError", "error", None)
_wrap("addUnexpectedSuccess", "fail", None)
# a test marked `todo` that fails hides a failure as a skip hides a test: listed with them
_wrap("addExpectedFailure", "todo", 1)

from twisted.scripts.trial import run
# `python -c` puts "" (the cwd) first on sys.path, and trial then moves into _trial_temp:
# the repository itself must stay importable for imports made while tests run
sys.path[0] = os.getcwd()
sys.argv = ["trial", *sys.argv[1:]]
run()
"""


def in_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def load_allow_list(path=None):
    """[(pattern, condition, reason)] from the allow-list.

    Each entry is one line: a test id (fnmatch pattern), then `|` and a condition
    (`always`, or `root`: allowed only when running as root), then `|` and the reason.
    Blank lines and lines starting with `#` are ignored."""
    path = path or ALLOW_LIST
    entries = []
    if not os.path.exists(path):
        return entries
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|", 2)]
            if len(parts) != 3 or not all(parts) or parts[1] not in ("always", "root"):
                raise SystemExit(f"{path}:{n}: want `test id | always|root | reason`: {line!r}")
            entries.append(tuple(parts))
    return entries


def allowed(test_id, entries, euid=None):
    """The allow-list entry covering test_id here, or None."""
    euid = os.geteuid() if euid is None else euid
    for pattern, cond, reason in entries:
        if fnmatch.fnmatchcase(test_id, pattern) and (cond == "always" or euid == 0):
            return (pattern, cond, reason)
    return None


def summarize(records, entries, ci, out=sys.stdout, euid=None, whole_suite=False):
    """Print the skips by name; return (passed, failed, skipped, unallowed skips).
    For the whole suite, also name the allow-list entries that matched no skip."""
    passed = sum(1 for r in records if r["kind"] == "pass")
    failed = sum(1 for r in records if r["kind"] in ("fail", "error"))
    skips = [r if r["kind"] == "skip" else dict(r, reason="expected failure (todo): " + r["reason"])
             for r in records if r["kind"] in ("skip", "todo")]
    bad = [r for r in skips if allowed(r["id"], entries, euid) is None]
    if skips:
        out.write("\n" + "=" * 79 + "\n")
        out.write(f"SKIPPED TESTS ({len(skips)}; {len(bad)} not on {os.path.relpath(ALLOW_LIST, ROOT)})\n")
        for r in skips:
            tag = "allowed    " if allowed(r["id"], entries, euid) else (
                "NOT ALLOWED" if ci else "not allowed")
            reason = " ".join(r["reason"].split())
            out.write(f"  [{tag}] {r['id']}\n      {reason[:400]}\n")
        if bad:
            out.write(("!!! In CI these skips count as failures: " if ci else
                       "!!! Outside CI these stay skips; in CI (CI=1) they would fail: ")
                      + f"{len(bad)} skipped test(s) are not on the allow-list\n")
        out.write("=" * 79 + "\n")
    used = {allowed(r["id"], entries, euid) for r in skips} - {None}
    for e in entries:
        if whole_suite and e not in used and allowed(e[0], [e], euid):
            out.write(f"note: allow-list entry {e[0]!r} matched no skip in this run\n")
    if ci:
        failed += len(bad)
        return passed, failed, len(skips) - len(bad), bad
    return passed, failed, len(skips), bad


def main(argv=None):
    # Default: the whole suite on two trial workers per CPU (at most 4).  Serial, it no
    # longer fits CI's 30 minutes beside the Go builds, mutants and fuzzing; and it mostly
    # waits (daemons starting, Go tools, timers): on 2 cores, -j2 used 525 CPU-s in 837 s,
    # -j4 496 CPU-s in 412 s.
    args = list(sys.argv[1:] if argv is None else argv) or [
        "-j%d" % max(1, min(4, 2 * (os.cpu_count() or 1))), "tests"]
    entries = load_allow_list()
    ci = in_ci()
    fd, log = tempfile.mkstemp(prefix="v23py-tests-", suffix=".jsonl")
    os.close(fd)
    try:
        env = dict(os.environ, V23PY_SKIP_LOG=log)
        rc = subprocess.call([sys.executable, "-c", _CHILD, *args], cwd=ROOT, env=env)
        with open(log, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    finally:
        os.unlink(log)
    sys.stdout.flush()
    passed, failed, skipped, bad = summarize(records, entries, ci,
                                             whole_suite=args == ["tests"])
    if rc != 0 and failed == 0:
        # trial failed without a failing test (an import error, a crash): say so.
        print(f"!!! trial exited with status {rc} without a failing test")
        failed = 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
