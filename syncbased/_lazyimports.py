"""Modules imported at start-up that syncbased's start never uses, loaded on first use
instead of before the ENDPOINT= line.

Twisted imports, whatever the reactor:

* ``http.cookiejar`` (``twisted.python.compat`` keeps it as ``cookielib`` for old code):
  with it ``urllib.request``, ``http.client`` and ``email``, ~10 % of a start's CPU.  Only
  ``twisted.web``'s client uses cookies; the daemon never does.  Its package ``http``
  (whose ``__init__`` builds the ``HTTPStatus`` enum, ~0.6 %) is deferred too.
* ``asyncio`` (``twisted.internet.defer`` takes ``AbstractEventLoop``, ``Future`` and
  ``iscoroutine`` from it, for its asyncio bridges; ``v23py.deferred`` takes
  ``_get_running_loop``): the package's ``__init__`` loads every submodule (event loops,
  streams, subprocesses, TLS and with it ``ssl``), ~15 % of a start's CPU.  Those four names
  live in three small submodules.
* ``pickle`` (``twisted.python.reflect`` binds it for one helper that names a function
  by its module): with ``_pickle`` and ``_compat_pickle``, ~0.8 % of a start's CPU.
* ``twisted.internet.unix`` and ``twisted.internet.udp`` (``posixbase`` binds them for
  ``listenUNIX`` / ``listenUDP`` and their kin): the daemon serves on TCP, and its only
  UDP (NTP's query) comes after the line; ~2 % of a start's instructions.

Python's own modules, for paths a start never takes:

* ``textwrap`` and ``tokenize`` (``logging`` imports ``traceback``, which imports them for
  exception groups and for reading source lines): with ``locale`` (``asyncio.events``
  imports ``subprocess``, which imports it for text-mode pipes), ~1.3 %.
* ``ctypes`` (``twisted.python.win32``, which ``FilePath`` imports, tries
  ``from ctypes import WinError`` at import to format Windows errors): ~1 %.  Its lookup of
  a name ctypes defines only on Windows fails without running ctypes.
* ``concurrent.futures`` (``asyncio.futures`` imports it to convert between its futures
  and asyncio's, at run time): ~0.5 %.

And the daemon's own modules, for rare paths:

* ``shutil`` (``rmtree`` of a destroyed database or service; ``tempfile`` imports it too):
  with ``zlib``, ``bz2`` and ``lzma`` for its archives, ~0.9 %.
* ``hashlib`` (SHA-256 of a database's directory name and of a syncgroup id; none is
  opened or made on a fresh root before the line) and ``secrets`` (a new blob's name;
  it imports ``hmac``): between them they load ``_hashlib``, which starts OpenSSL's
  libcrypto, ~1.5 %.

:func:`install` (syncbased's ``main``, before it imports logging) puts them in
``sys.modules`` unexecuted: ``asyncio`` with its three submodules loaded and those names
set, ``http`` with only its ``cookiejar``, the others empty.  The
first lookup of any other attribute on one of them runs its own code in it (the module object stays the same, so every reference stays
valid) and answers the lookup, unless it names a submodule: that is imported alone.  So a
submodule imported first (``import asyncio.locks``) runs with the siblings it imports
(``from . import exceptions`` probes the package for them), and the package later; running
the package inside that import had failed (its ``from .locks import *`` found the
submodule half made).  zeroconf (multicast DNS, started after ENDPOINT=) is the daemon's first real user
of asyncio.  Nothing happens when a module is already loaded, or when Python has no
such module or submodule (then the module loads as usual, on first import).
"""
from __future__ import annotations

import importlib
import sys
import threading
import types
from importlib.machinery import ModuleSpec, PathFinder

__all__ = ["install", "is_deferred"]

_lock = threading.RLock()

# package -> (submodule, attribute) pairs its importers need before the package runs
ASYNCIO_NAMES = (("events", "AbstractEventLoop"), ("events", "_get_running_loop"),
                 ("futures", "Future"), ("coroutines", "iscoroutine"))


# what ctypes defines only on Windows (twisted.python.win32 probes WinError at import)
CTYPES_WINDOWS_ONLY = () if sys.platform == "win32" else ("WinError", "FormatError",
                                                            "GetLastError", "WinDLL")


def _find(name: str) -> ModuleSpec | None:
    parent, _, _ = name.rpartition(".")
    path = None
    if parent:
        if parent not in sys.modules:
            __import__(parent)   # (returns the top-level package: take it from sys.modules)
        pkg = sys.modules[parent]
        path = getattr(pkg, "__path__", None)
        if path is None:
            return None
    spec = PathFinder.find_spec(name, path)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return None
    return spec


def _defer(name: str, names=(), absent=()) -> bool:
    """Put ``name`` into sys.modules without running it; ``names``: (submodule, attribute)
    pairs loaded and set on it now; ``absent``: attributes the module does not define on
    this platform, whose lookup fails without running it.  False when it is loaded
    already or cannot be."""
    if name in sys.modules:
        return False
    spec = _find(name)
    if spec is None:
        return False
    mod = types.ModuleType(name)
    mod.__spec__ = spec
    mod.__loader__ = spec.loader
    mod.__file__ = spec.origin
    package = None
    if spec.submodule_search_locations is not None:
        package = mod.__path__ = list(spec.submodule_search_locations)
        mod.__package__ = name
    else:
        mod.__package__ = name.rpartition(".")[0]

    def load():
        with _lock:
            if mod.__dict__.get("__getattr__") is not __getattr__:
                return           # (loaded meanwhile, or loading on this thread)
            del mod.__dict__["__getattr__"]
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(name, None)
                raise

    def __getattr__(attr):
        if attr.startswith("__") and attr.endswith("__") and attr != "__all__":
            raise AttributeError(attr)     # (copy, pickle and inspect probe these)
        if attr in absent:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        if package and PathFinder.find_spec(f"{name}.{attr}", package) is not None:
            # A submodule, alone: a submodule imported first ("import asyncio.locks")
            # probes the package for its siblings ("from . import exceptions"), and
            # running the package then would run it inside that submodule's import
            # (the package's "from .locks import *" finds it half made).
            return importlib.import_module(f"{name}.{attr}")
        load()
        return getattr(mod, attr)   # (the module's own __getattr__, if it has one, answers too)

    __getattr__._v23py_deferred = True
    mod._v23py_load = load
    sys.modules[name] = mod
    try:
        for sub, attr in names:
            m = __import__(f"{name}.{sub}", fromlist=[attr])
            setattr(mod, attr, getattr(m, attr))
    except (ImportError, AttributeError):
        mod.__getattr__ = __getattr__
        load()                   # (another Python's layout: load it whole, as before)
        return False
    # (only now: the submodules' own "from . import x" probe the package with hasattr)
    mod.__getattr__ = __getattr__
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, mod)
    return True


def install() -> list:
    """Defer the modules above; the names of those deferred."""
    with _lock:
        # (those with no names first: loading asyncio's submodules imports them)
        return [n for n, names, absent in (
                    ("textwrap", (), ()), ("tokenize", (), ()), ("locale", (), ()),
                    ("ctypes", (), CTYPES_WINDOWS_ONLY), ("concurrent.futures", (), ()),
                    ("http", (), ()), ("http.cookiejar", (), ()), ("pickle", (), ()),
                    ("shutil", (), ()), ("hashlib", (), ()), ("secrets", (), ()),
                    ("twisted.internet.unix", (), ()), ("twisted.internet.udp", (), ()),
                    ("asyncio", ASYNCIO_NAMES, ()))
                if _defer(n, names, absent)]


def is_deferred(name: str) -> bool:
    """True while ``name`` is in sys.modules deferred by install() and not yet run."""
    m = sys.modules.get(name)
    # (a module may have a __getattr__ of its own: concurrent.futures has)
    return m is not None and getattr(m.__dict__.get("__getattr__"), "_v23py_deferred", False)
