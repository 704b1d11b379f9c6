"""Modules imported at start-up that syncbased's start never uses, loaded on first use
instead of before the ENDPOINT= line.

Twisted imports, whatever the reactor:

* ``http.cookiejar`` (``twisted.python.compat`` keeps it as ``cookielib`` for old code):
  with it ``urllib.request``, ``http.client`` and ``email``, ~10 % of a start's CPU.  Only
  ``twisted.web``'s client uses cookies; the daemon never does.  Its package ``http``
  (whose ``__init__`` builds the ``HTTPStatus`` enum, ~0.6 %) is deferred too.
* ``asyncio`` (``twisted.internet.defer`` takes ``AbstractEventLoop``, ``Future`` and
  ``iscoroutine`` from it, for its asyncio bridges): the package's ``__init__`` loads every
  submodule (event loops, streams, subprocesses, TLS and with it ``ssl``), ~15 % of a
  start's CPU.  ``iscoroutine`` (called) lives in a small submodule, loaded; Twisted names
  the other two in annotations alone, which it never evaluates, so it gets stand-ins
  while it imports (:func:`install` imports it) and the real classes as soon as their
  submodules run (``events`` and ``futures``: with ``subprocess`` and ``_asyncio``, ~1 %
  more of a start's instructions).  The package itself never holds a stand-in after that.
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
``sys.modules`` unexecuted: ``asyncio`` with ``iscoroutine`` set, ``http`` with only its
``cookiejar``, the others empty.  The
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
ASYNCIO_NAMES = (("coroutines", "iscoroutine"),)

# what twisted.internet.defer takes from asyncio for its annotations alone (postponed, so
# never evaluated as it runs), with the submodule defining each: stand-ins serve its import
DEFER_ANNOTATION_NAMES = (("events", "AbstractEventLoop"), ("futures", "Future"))


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


class StandIn:
    """What an importer got, in place of a deferred package's class that it names in its
    annotations alone, until the package's submodule defining the real one runs."""

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def __repr__(self) -> str:
        return f"<stand-in for {self.qualname}>"


def _after_run(name: str, then) -> None:
    """Call ``then(module)`` right after the module ``name`` has run, whichever import runs
    it (its package's, a sibling's ``from . import``, a program's ``import``)."""
    class AfterRun:
        @staticmethod
        def find_spec(fullname, path, target=None):
            if fullname != name:
                return None
            spec = PathFinder.find_spec(fullname, path)
            if spec is not None and spec.loader is not None:
                loader = spec.loader

                def exec_module(module):
                    del loader.exec_module        # (its class's own from now on)
                    loader.exec_module(module)
                    # (here, not on finding: importlib.util.find_spec only asks)
                    if AfterRun in sys.meta_path:
                        sys.meta_path.remove(AfterRun)
                    then(module)
                loader.exec_module = exec_module
            return spec
    if name in sys.modules:
        then(sys.modules[name])
    else:
        sys.meta_path.insert(0, AfterRun)


def _import_with_stand_ins(importer: str, package: str, names) -> None:
    """Import ``importer`` while the deferred ``package`` answers ``names`` ((submodule,
    attribute) pairs) with stand-ins, then take them off the package again (any later
    lookup runs it as usual); the importer gets the real objects as their submodules run."""
    pkg = sys.modules[package]
    stand_ins = {attr: StandIn(f"{package}.{sub}.{attr}") for sub, attr in names}
    pkg.__dict__.update(stand_ins)
    try:
        importlib.import_module(importer)
    finally:
        for attr, stand_in in stand_ins.items():
            if pkg.__dict__.get(attr) is stand_in:
                del pkg.__dict__[attr]
    target = sys.modules[importer]

    def replace(attr):
        def then(module):
            if target.__dict__.get(attr) is stand_ins[attr]:
                setattr(target, attr, getattr(module, attr))
        return then
    for sub, attr in names:
        _after_run(f"{package}.{sub}", replace(attr))


def install() -> list:
    """Defer the modules above; the names of those deferred."""
    with _lock:
        # (those with no names first: loading asyncio's submodules imports them)
        deferred = [n for n, names, absent in (
                        ("textwrap", (), ()), ("tokenize", (), ()), ("locale", (), ()),
                        ("ctypes", (), CTYPES_WINDOWS_ONLY), ("concurrent.futures", (), ()),
                        ("http", (), ()), ("http.cookiejar", (), ()), ("pickle", (), ()),
                        ("shutil", (), ()), ("hashlib", (), ()), ("secrets", (), ()),
                        ("twisted.internet.unix", (), ()), ("twisted.internet.udp", (), ()),
                        ("asyncio", ASYNCIO_NAMES, ()))
                    if _defer(n, names, absent)]
        if "asyncio" in deferred:
            _import_with_stand_ins("twisted.internet.defer", "asyncio", DEFER_ANNOTATION_NAMES)
        return deferred


def is_deferred(name: str) -> bool:
    """True while ``name`` is in sys.modules deferred by install() and not yet run."""
    m = sys.modules.get(name)
    # (a module may have a __getattr__ of its own: concurrent.futures has)
    return m is not None and getattr(m.__dict__.get("__getattr__"), "_v23py_deferred", False)
