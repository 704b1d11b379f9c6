"""Helpers shared by the tests and the benchmarks: where ../shared and the Go peers are.

Submodules: ``procs`` (child processes, credentials, the tutorials' texts), ``rpc``
(principals, a loopback runtime, a test interface), ``flow`` (two sans-IO conns wired
together), ``syncbase`` (syncbased subprocesses), ``mdns`` (multicast probing),
``querydata`` (syncQL fixtures).
"""
import os

from twisted.trial.unittest import SkipTest

# the repository (tests read ../shared beside it and the Go peers in .gopeers)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("V23PY_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
GOPEERS = os.environ.get("V23PY_GOPEERS", os.path.join(ROOT, ".gopeers"))

# The Go peer groups .ci/go-peers.sh builds: (binary dir, file holding why the group
# was not built, what builds it).  The tools come from the module proxy; the other two
# need git mirrors under .mirror/ (see the README).
GO_GROUPS = {
    "tools": ("bin", "FAILED", "bash .ci/go-peers.sh"),
    "benchmark": ("bin", "FAILED-go-benchmark",
                  "bash .ci/go-peers.sh (needs the vanadium/core mirror)"),
    "syncbase": (os.path.join("go-syncbase", "bin"), "FAILED-go-syncbase",
                 "bash .ci/go-peers.sh (needs the go.ref and go.v23 mirrors)"),
    # our own Go programs over v0.2.0 (tests/interop/go/*), e.g. godischargerd
    "programs": ("bin", os.path.join("programs", "FAILED"), "bash .ci/go-programs.sh"),
}


def shared_path(*parts):
    """Path under ../shared, or SkipTest when that folder is absent."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        raise SkipTest(f"golden data not found: {path} (../shared is absent)")
    return path


def go_binary(name, group="tools"):
    """Path of a Go peer built by .ci/go-peers.sh (group: tools, benchmark or syncbase)
    or .ci/go-programs.sh (programs), or SkipTest saying why it is not there."""
    sub, failed, how = GO_GROUPS[group]
    path = os.path.join(GOPEERS, sub, name)
    if os.access(path, os.X_OK):
        return path
    failed = os.path.join(GOPEERS, failed)
    if os.path.exists(failed):
        with open(failed) as f:
            raise SkipTest(f"Go peer {name} unavailable: {f.read().strip()}")
    raise SkipTest(f"Go peer {name} not built: run `{how}` ({path} missing)")
