"""v23py: Vanadium in Python on Twisted, wire-compatible with Go Vanadium.

Start with :func:`v23py.init` (a context and a shutdown function), serve with
:func:`v23py.with_new_server`, call with the client stubs the ``vdl`` tool
generates; :mod:`v23py.aio` does the same from asyncio code.  The guide is
``docs/guide.md``.
"""

from v23py._version import __version__


TYPE_CHECKING = False   # (typing.TYPE_CHECKING without importing typing: every tool's start)
if TYPE_CHECKING:   # what type checkers and the API reference see; loaded lazily below
    from typing import Any

    from v23py.runtime import (FlagSet, get_principal, get_runtime, init,
                               wait_for_signal, with_new_dispatching_server,
                               with_new_server)

__all__ = ["__version__", "init", "FlagSet", "with_new_server", "with_new_dispatching_server",
           "wait_for_signal", "get_runtime", "get_principal"]


def __getattr__(name: str) -> "Any":
    # The runtime entry points, loaded on first use (v23py.init, v23py.FlagSet, ...).
    if name in ("init", "FlagSet", "with_new_server", "with_new_dispatching_server",
                "wait_for_signal", "get_runtime", "get_principal"):
        from v23py import runtime
        return getattr(runtime, name)
    raise AttributeError(name)
