"""Console-script entry points of the tools that do one thing and exit (``principal``,
``vrpc``, ``namespace``).

Such a process makes some 100,000 objects while it loads and works; Python's cyclic
garbage collector walks them again and again as they are made, and all of them once more
at exit, to free cycles that would die with the process anyway (~14 % of the CPU of
``principal get default -names``).  So these entries turn the collector off before the
tool loads and freeze what exists at exit (the collection at exit skips frozen objects).
A tool that goes on to run something long-lived -- the RPC runtime, for a call that may
stream or a server -- turns it back on first (``resume_gc``).  ``python -m`` runs and
in-process callers (tests) keep the collector as it was.

The console scripts also end such a run with ``os._exit`` once stdout and stderr are
flushed: the interpreter's own exit would tear down every module and object one by one
(~2 ms of ``principal get default -names``) for a process that is about to vanish.  Only
when nothing can need that teardown: the collector was never resumed (no runtime, no
threads of ours), no ``atexit`` callback is registered, and the exit status is an int.
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


def _script(module, argv):
    try:
        code = _run(module, argv)
    except SystemExit as e:
        _exit_now(e.code)
        raise
    _exit_now(code)
    return code


def _exit_now(code):
    """os._exit(code) when the short-lived run left nothing for the interpreter's exit to
    do (see the module docstring); otherwise return and let the normal exit run."""
    if not _disabled or not (code is None or isinstance(code, int)):
        return
    import atexit
    ncallbacks = getattr(atexit, "_ncallbacks", None)
    if ncallbacks is None or ncallbacks() != 0:
        return
    try:
        for f in (sys.stdout, sys.stderr):
            if f is not None:
                f.flush()
    except Exception:
        return      # (the normal exit reports it as it always has)
    import os
    os._exit(code or 0)


def principal(argv=None):
    return _script("v23py.cmd.principal", argv)


def vrpc(argv=None):
    return _script("v23py.cmd.vrpc", argv)


def namespace(argv=None):
    return _script("v23py.cmd.namespace", argv)
