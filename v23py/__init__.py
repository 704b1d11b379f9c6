"""v23py: Vanadium in Python on Twisted, wire-compatible with Go Vanadium."""


def __getattr__(name):
    # The runtime entry points, loaded on first use (v23py.init, v23py.FlagSet, ...).
    if name in ("init", "FlagSet", "with_new_server", "with_new_dispatching_server",
                "wait_for_signal", "get_runtime", "get_principal"):
        from v23py import runtime
        return getattr(runtime, name)
    raise AttributeError(name)
