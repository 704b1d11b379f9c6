"""Console-script entry points of the tools that do one thing and exit (``principal``,
``vrpc``).

Such a process makes some 100,000 objects while it loads and works; Python's cyclic
garbage collector walks them again and again as they are made, and all of them once more
at exit, to free cycles that would die with the process anyway (~14 % of the CPU of
``principal get default -names``).  So these entries turn the collector off before the
tool loads and freeze what exists at exit (the collection at exit skips frozen objects).
A tool that goes on to run something long-lived -- the RPC runtime, for a call that may
stream or a server -- turns it back on first (``resume_gc``).  ``python -m`` runs and
in-process callers (tests) keep the collector as it was.
"""
import gc
import sys

_disabled = False


def runtime_timeout(timeout):
    """What is left of a command's ``timeout`` for the runtime's path: all of it, unless
    a fast attempt (v23py.cmd._fastcall, loaded only then) ran first and gave way."""
    fast = sys.modules.get("v23py.cmd._fastcall")
    return timeout if fast is None else fast.time_left(timeout)


def resume_gc():
    """Turn the collector back on if an entry below turned it off."""
    global _disabled
    if _disabled:
        _disabled = False
        gc.enable()


def _run(module, argv):
    global _disabled
    if gc.isenabled():
        gc.disable()
        _disabled = True
    try:
        return __import__(module, fromlist=["main"]).main(argv)
    finally:
        gc.freeze()


def principal(argv=None):
    return _run("v23py.cmd.principal", argv)


def vrpc(argv=None):
    return _run("v23py.cmd.vrpc", argv)
