"""syncbased's start-up defers what no request needs before ENDPOINT=: the Syncbase client
library (only its util and ext modules are the daemon's), syncQL (loaded by the first
Exec), multicast DNS (zeroconf starts on the reactor turn after the ENDPOINT= line), and
the standard library's asyncio and http.cookiejar that Twisted imports, Twisted's UNIX and
UDP transports, shutil and hashlib, textwrap, tokenize, locale and ctypes (loaded on first
use).
These tests pin each lazy path: the modules stay unloaded at start-up, and the lazy
names and the deferred start give the same objects and behaviour as before."""
from __future__ import annotations

import dis
import json
import subprocess
import sys
import types

from twisted.internet import defer, task
from twisted.trial import unittest

from syncbased import _lazyimports
from v23py.testing import ROOT, tempdir

# Modules the daemon must not load before its first request.
DEFERRED = ("zeroconf", "v23py.query", "v23py.syncbase.database", "v23py.syncbase.cr",
            "v23py.syncbase.discovery", "v23py.syncbase.collection", "v23py.syncbase._common",
            "v23py.syncbase._stream", "v23py.syncbase.blob", "syncbased.query_exec")


def json_printed_by(code):
    """What a fresh Python process running ``code`` prints, as JSON."""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)


class StartupImportsTest(unittest.TestCase):

    def test_daemon_modules_leave_deferred_ones_unloaded(self):
        code = ("import sys, json, syncbased.main, syncbased.daemon, syncbased.server; "
                "print(json.dumps(sorted(sys.modules)))")
        loaded = set(json_printed_by(code))
        self.assertIn("syncbased.server", loaded)
        early = sorted(m for m in loaded if m in DEFERRED or m.startswith("zeroconf."))
        self.assertEqual(early, [])


class DeferredStdlibTest(unittest.TestCase):
    """syncbased._lazyimports: what Twisted imports from asyncio, http.cookiejar and pickle
    is there without running them, and so are twisted.internet.unix / udp, shutil, hashlib
    and secrets; the first other use loads the real module."""

    def _daemon_code(self, code):
        pre = ("import sys, json; from syncbased import _lazyimports as L; "
               "done = L.install(); "
               "import syncbased.main, syncbased.daemon, syncbased.server; "
               "from twisted.internet import reactor, task, defer; ")
        return json_printed_by(pre + code)

    def test_start_up_leaves_them_unrun(self):
        r = self._daemon_code("print(json.dumps([done, L.is_deferred('asyncio'), "
                      "L.is_deferred('http.cookiejar'), L.is_deferred('pickle'), "
                      "L.is_deferred('http'), L.is_deferred('shutil'), L.is_deferred('hashlib'), "
                      "L.is_deferred('secrets'), "
                      "L.is_deferred('twisted.internet.unix'), "
                      "L.is_deferred('twisted.internet.udp'), "
                      "sorted(m for m in ('asyncio.base_events', 'asyncio.tasks', 'ssl', "
                      "'urllib.request', 'http.client', 'email.parser', '_pickle', "
                      "'_hashlib', 'hmac', 'bz2', 'lzma', 'twisted.internet._multicast') "
                      "if m in sys.modules)]))")
        self.assertEqual(r, [["textwrap", "tokenize", "locale", "ctypes", "concurrent.futures",
                              "http", "http.cookiejar", "pickle", "shutil", "hashlib",
                              "secrets", "twisted.internet.unix", "twisted.internet.udp",
                              "asyncio"],
                             True, True, True, True, True, True, True, True, True, []])

    def test_logging_traceback_and_twisted_leave_them_unrun(self):
        # logging (traceback: textwrap, linecache: tokenize), asyncio.events (subprocess:
        # locale) and twisted.python.win32 (ctypes, probed for WinError) import them
        r = self._daemon_code("print(json.dumps([L.is_deferred(m) for m in "
                              "('textwrap', 'tokenize', 'locale', 'ctypes', "
                              "'concurrent.futures')] + "
                              "['_ctypes' in sys.modules, "
                              "'concurrent.futures._base' in sys.modules]))")
        self.assertEqual(r, [True, True, True, True, True, False, False])

    def test_the_collector_is_off_from_the_daemon_modules_first_line(self):
        # (start-up's imports make objects that live as long as the process; _tune_gc
        # switches it on once the daemon serves)
        code = ("import gc, json; import syncbased.main as m; off = not gc.isenabled(); "
                "m._tune_gc(); print(json.dumps([off, gc.isenabled()]))")
        self.assertEqual(json_printed_by(code), [True, True])

    def test_the_daemon_module_defers_before_its_own_imports(self):
        # (syncbased.main imports logging: install() must come first)
        code = ("import sys, json, syncbased.main, syncbased.daemon, syncbased.server; "
                "from syncbased import _lazyimports as L; "
                "print(json.dumps([L.is_deferred(m) for m in ('textwrap', 'tokenize', "
                "'asyncio')]))")
        self.assertEqual(json_printed_by(code), [True, True, True])

    def test_first_use_loads_the_real_modules(self):
        r = self._daemon_code(
            "import asyncio, asyncio.futures, asyncio.events, asyncio.coroutines; "
            "same = [defer.Future is asyncio.futures.Future, "
            "defer.AbstractEventLoop is asyncio.events.AbstractEventLoop, "
            "defer.iscoroutine is asyncio.coroutines.iscoroutine]\n"
            "async def f():\n    await asyncio.sleep(0)\n    return 7\n"
            "res = asyncio.run(f()); "
            "import http.cookiejar as cj; from http.cookiejar import CookieJar; "
            "import pickle; from twisted.python import reflect; "
            "rt = pickle.loads(pickle.dumps({'a': (1, b'x')})); "
            "print(json.dumps([same, res, asyncio.Future is asyncio.futures.Future, "
            "'asyncio.base_events' in sys.modules, len(CookieJar()), cj.CookieJar is CookieJar,"
            "L.is_deferred('asyncio'), L.is_deferred('http.cookiejar'), "
            "sorted(set(asyncio.__all__) - set(dir(asyncio))), rt == {'a': (1, b'x')}, "
            "reflect.pickle is pickle, L.is_deferred('pickle'), "
            "reflect.fullFuncName(json.dumps), L.is_deferred('http'), "
            "__import__('http').HTTPStatus(404).phrase]))")
        self.assertEqual(r, [[True, True, True], 7, True, True, 0, True, False, False, [], True,
                             True, False, "json.dumps", False, "Not Found"])

    def test_first_use_loads_the_real_twisted_and_daemon_modules(self):
        r = self._daemon_code(
            "from twisted.internet import posixbase, unix, udp, tcp; "
            "import shutil, hashlib, secrets; "
            "sha = hashlib.sha256(b'abc').hexdigest()[:8]; tok = secrets.token_hex(4); "
            "print(json.dumps([posixbase.unix is unix, posixbase.udp is udp, "
            "issubclass(unix.Port, tcp.Port), issubclass(unix.DatagramPort, udp.Port), "
            "L.is_deferred('twisted.internet.unix'), L.is_deferred('twisted.internet.udp'), "
            "sys.modules['twisted.internet'].unix is unix, sha, callable(shutil.rmtree), "
            "L.is_deferred('shutil'), L.is_deferred('hashlib'), '_hashlib' in sys.modules, "
            "len(tok), L.is_deferred('secrets')]))")
        self.assertEqual(r, [True, True, True, True, False, False, True, "ba7816bf", True,
                             False, False, True, 8, False])

    def test_a_submodule_imported_first_leaves_the_package_for_later(self):
        # (each probes the package for its siblings; the package's own code runs later)
        r = self._daemon_code(
            "import asyncio.locks, asyncio.streams, asyncio.queues\n"
            "before = L.is_deferred('asyncio')\n"
            "async def f():\n    q = asyncio.Queue(); q.put_nowait(5)\n"
            "    async with asyncio.Lock():\n        return await q.get()\n"
            "res = asyncio.run(f())\n"
            "print(json.dumps([before, res, asyncio.Lock is asyncio.locks.Lock, "
            "asyncio.StreamReader is asyncio.streams.StreamReader, "
            "asyncio.Queue is asyncio.queues.Queue, defer.Future is asyncio.Future, "
            "L.is_deferred('asyncio')]))")
        self.assertEqual(r, [True, 5, True, True, True, True, False])

    def test_first_use_loads_textwrap_tokenize_locale_and_ctypes(self):
        r = self._daemon_code(
            "import textwrap, tokenize, locale, ctypes, io\n"
            "try:\n    from ctypes import WinError\n    win = 'found'\n"
            "except ImportError:\n    win = 'absent'\n"
            "still = L.is_deferred('ctypes'); "
            "ind = textwrap.indent('a\\nb', '> '); "
            "toks = [t.string for t in tokenize.generate_tokens(io.StringIO('x = 1').readline)][:3]; "
            "enc = locale.getpreferredencoding(False) != ''; "
            "size = ctypes.sizeof(ctypes.c_int32); "
            "print(json.dumps([win, still, ind, toks, enc, size, "
            "[L.is_deferred(m) for m in ('textwrap', 'tokenize', 'locale', 'ctypes')], "
            "textwrap.TextWrapper(width=3).wrap('ab cd')]))")
        self.assertEqual(r, ["absent" if sys.platform != "win32" else "found", True,
                             "> a\n> b", ["x", "=", "1"], True, 4,
                             [False, False, False, False], ["ab", "cd"]])

    def test_first_use_loads_concurrent_futures(self):
        # (its own module __getattr__ gives ThreadPoolExecutor once it has run)
        r = self._daemon_code(
            "import concurrent.futures as cf\n"
            "with cf.ThreadPoolExecutor(1) as ex:\n    got = ex.submit(pow, 2, 5).result()\n"
            "async def f():\n    return await asyncio.wrap_future(cf.ThreadPoolExecutor(1).submit(abs, -4))\n"
            "import asyncio\n"
            "print(json.dumps([got, asyncio.run(f()), L.is_deferred('concurrent.futures'), "
            "cf.Future is __import__('concurrent.futures._base').futures._base.Future]))")
        self.assertEqual(r, [32, 4, False, True])

    def test_twisted_gets_stand_ins_for_names_in_its_annotations(self):
        # (AbstractEventLoop and Future: the submodules defining them stay unrun; nothing
        # but twisted.internet.defer holds a stand-in, the deferred package none at all)
        r = self._daemon_code(
            "import importlib.util, v23py.deferred as vd\n"
            "held = sorted({n for n, m in list(sys.modules.items()) for v in "
            "list(getattr(m, '__dict__', {}).values()) if isinstance(v, L.StandIn)})\n"
            "kinds = [type(defer.AbstractEventLoop).__name__, type(defer.Future).__name__]\n"
            "unrun = [m in sys.modules for m in ('asyncio.events', 'asyncio.futures', "
            "'subprocess', '_asyncio')]\n"
            "in_pkg = sorted(set(vars(sys.modules['asyncio'])) & {'AbstractEventLoop', 'Future'})\n"
            "no_loop = vd._get_running_loop() is None\n"
            "importlib.util.find_spec('asyncio.futures')\n"   # (asks; runs nothing)
            "from asyncio import Future\n"
            "async def f():\n    return vd._get_running_loop() is asyncio.get_running_loop()\n"
            "import asyncio\n"
            "print(json.dumps([held, kinds, unrun, in_pkg, no_loop, "
            "[type(Future).__name__, Future is asyncio.futures.Future, defer.Future is Future, "
            "defer.AbstractEventLoop is asyncio.AbstractEventLoop], asyncio.run(f()), "
            "vd._get_running_loop is asyncio.events._get_running_loop, "
            "[f for f in sys.meta_path if 'AfterRun' in getattr(f, '__qualname__', '')]]))")
        self.assertEqual(r, [["twisted.internet.defer"], ["StandIn", "StandIn"],
                             # (on 3.10 attrs' import of platform loads subprocess anyway)
                             [False, False, sys.version_info < (3, 11), False], [], True,
                             ["type", True, True, True], True, True, []])

    def test_twisted_defer_never_uses_the_stand_ins_as_it_runs(self):
        # (what makes stand-ins safe: its code loads none of those names; a Twisted that
        # did, e.g. an isinstance check against Future, fails here)
        names = {attr for _, attr in _lazyimports.DEFER_ANNOTATION_NAMES}
        with open(defer.__file__, encoding="utf-8") as f:
            top = compile(f.read(), defer.__file__, "exec")
        loads, codes = [], [top]
        while codes:
            co = codes.pop()
            codes.extend(c for c in co.co_consts if isinstance(c, types.CodeType))
            loads += [(co.co_name, i.argval) for i in dis.get_instructions(co)
                      if i.opname in ("LOAD_NAME", "LOAD_GLOBAL", "LOAD_DEREF",
                                      "LOAD_CLASSDEREF", "LOAD_ATTR") and i.argval in names]
        self.assertEqual(names, {"AbstractEventLoop", "Future"})
        self.assertEqual(loads, [])

    def test_nothing_to_do_once_loaded(self):
        # (every module install() defers, imported first: which of them the others import
        # depends on the Python version, e.g. traceback imports textwrap only from 3.11)
        code = ("import sys, json, asyncio, http.cookiejar, pickle, shutil, hashlib, secrets; "
                "import textwrap, tokenize, locale, ctypes, concurrent.futures; "
                "import twisted.internet.unix, twisted.internet.udp; "
                "from syncbased import _lazyimports as L; print(json.dumps([L.install(), L.is_deferred('asyncio')]))")
        self.assertEqual(json_printed_by(code), [[], False])


class LazyClientNamesTest(unittest.TestCase):
    """v23py.syncbase's public names load their submodule on first use."""

    def test_every_public_name_is_its_submodules_object(self):
        import importlib
        import v23py.syncbase as sb
        for mod, names in sb._LAZY.items():
            m = importlib.import_module(mod)
            for name in names:
                self.assertIs(getattr(sb, name), getattr(m, name), name)
        self.assertEqual(set(sb.__all__), set(sb._WHERE) | {"Id"})
        self.assertTrue(set(sb.__all__) <= set(dir(sb)))

    def test_star_import_and_submodule_import(self):
        ns: dict = {}
        exec("from v23py.syncbase import *", ns)
        import v23py.syncbase as sb
        self.assertIs(ns["new_service"], sb.database.new_service)
        self.assertIs(ns["Schema"], sb.cr.Schema)
        from v23py.syncbase import cr, util
        self.assertIs(cr.Schema, sb.Schema)
        self.assertIs(util.Id, sb.Id)

    def test_unknown_name_is_an_attribute_error(self):
        import v23py.syncbase as sb
        with self.assertRaises(AttributeError):
            sb.no_such_name
        with self.assertRaises(ImportError):
            exec("from v23py.syncbase import no_such_name", {})


class DeferredMdnsTest(unittest.TestCase):
    """SyncService.start starts multicast DNS on the next reactor turn, not inline."""

    def _sync(self, clock):
        from syncbased.service import Service
        from syncbased.vsync import SyncService
        svc = Service(tempdir(self, "sbstart-"), "memstore", default_patterns=["a"])
        self.addCleanup(svc.close)
        return SyncService(types.SimpleNamespace(service=svc, reactor=clock, blobs=None),
                           None, publish_nh=False, own_names=["a"])

    def _record_starts(self):
        from syncbased.vsync import neighborhood
        calls = []
        self.patch(neighborhood, "start",
                   lambda reactor, member, endpoint, publish, sync=None:
                   calls.append((member, endpoint, publish, sync)) or "nh")
        return calls

    def test_starts_on_the_next_turn(self):
        calls = self._record_starts()
        clock = task.Clock()
        sync = self._sync(clock)
        sync.start("/ep")
        self.assertEqual(calls, [])       # not inline: ENDPOINT= is printed first
        self.assertIsNone(sync._mdns)
        clock.advance(0)
        self.assertEqual(calls, [(sync.hex, "/ep", False, sync)])
        self.assertEqual(sync._mdns, "nh")
        sync._mdns = None
        sync.stop()

    def test_stop_before_the_turn_never_starts_it(self):
        calls = self._record_starts()
        clock = task.Clock()
        sync = self._sync(clock)
        sync.start("/ep")
        sync.stop()
        clock.advance(1)
        self.assertEqual(calls, [])
        self.assertIsNone(sync._mdns)
