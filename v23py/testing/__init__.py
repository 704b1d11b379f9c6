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


def shared_path(*parts):
    """Path under ../shared, or SkipTest when that folder is absent."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        raise SkipTest(f"golden data not found: {path} (../shared is absent)")
    return path


def go_binary(name):
    """Path of a Go Vanadium peer built by .ci/go-peers.sh, or SkipTest saying why."""
    path = os.path.join(GOPEERS, "bin", name)
    if os.path.exists(path):
        return path
    failed = os.path.join(GOPEERS, "FAILED")
    if os.path.exists(failed):
        with open(failed) as f:
            raise SkipTest(f"Go peer {name} unavailable: {f.read().strip()}")
    raise SkipTest(f"Go peer {name} not built: run `bash .ci/go-peers.sh` ({path} missing)")
