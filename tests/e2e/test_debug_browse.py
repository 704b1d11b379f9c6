"""`debug browse` in a real headless browser (Debian's chromium, driven by playwright).

Two syncbased daemons share a syncgroup; `debug browse` serves pages about the first.
The browser opens each page and checks what it shows: the server's blessings, stats
whose values change live (server-sent events), the log files, traces, thread stacks,
the namespace, the databases and collections, the rows and a live Watch feed that
shows a row put while the page is open, and the syncgroup's members with the sync
progress the daemon recorded.  A screenshot of the stats page must show rendered data
(many non-background pixels), not an error.
"""
import os
import shutil
import struct
import subprocess
import sys
import zlib

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from v23py.testing.syncbase import ALICE, DaemonTestCase, sleep, sync_peer

CHROMIUM = os.environ.get("V23PY_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def png_pixels(data):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    i, idat = 8, b""
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows


class BrowseInChromium(DaemonTestCase):
    timeout = 240

    def setUp(self):
        from v23py.testing import unavailable
        if not os.path.exists(CHROMIUM):    # (CI installs it: there its absence fails)
            unavailable(f"{CHROMIUM} missing: apt-get install chromium (.ci/chromium.sh)")
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            unavailable("playwright is not installed (pip install -e '.[test]')")
        super().setUp()

    async def browse(self, name):
        from v23py.testing import start_process, wait_for_line
        from v23py.testing import child_env
        logs = os.path.join(self.tmp, "browse-logs")
        os.makedirs(logs, exist_ok=True)
        p, _ = await start_process(
            self, [sys.executable, "-m", "v23py.cmd.debug", f"--v23.credentials={self.creds}",
                   f"--log_dir={logs}", "--v23.namespace.root=/127.0.0.1:1", "browse",
                   "--addr=127.0.0.1:0", name],
            "selecting from [", "debug browse", text=True, env=child_env(), stderr=subprocess.DEVNULL)
        visit = await wait_for_line(p, "Visit http://localhost:", 30, "debug browse")
        return visit.split()[1]

    @defer.inlineCallbacks
    def test_pages(self):
        logs = os.path.join(self.tmp, "daemon-logs")
        os.makedirs(logs)
        a = yield self.daemon(extra=[f"--log_dir={logs}", "-v=1",
                                     "--metrics-address=127.0.0.1:0"])
        b = yield self.daemon()
        yield defer.ensureDeferred(sync_peer(self.ctx, a, "fortuneDb", "fortuneCollection"))
        _, cb = yield defer.ensureDeferred(sync_peer(self.ctx, b, "fortuneDb",
                                                     "fortuneCollection", admin=a))
        from v23py import syncbase
        ca = syncbase.new_service(a.endpoint).database(self.ctx, "fortuneDb", None).collection(
            self.ctx, "fortuneCollection")
        yield ca.put(self.ctx, "k1", "hello")
        for _ in range(200):      # until b has it: the daemons synced at least once
            try:
                if (yield cb.get(self.ctx, "k1")) == "hello":
                    break
            except Exception:
                pass
            yield sleep(0.1)
        url = yield defer.ensureDeferred(self.browse(a.endpoint))

        def put_k2():
            return defer.ensureDeferred(self._put(ca, "k2", "live value"))
        shot = os.path.join(self.tmp, "stats.png")
        seen = yield threads.deferToThread(self._drive, url, put_k2, shot)
        self.assertIn(ALICE, seen["name"])
        self.assertIn("Blessings presented", seen["name"])
        self.assertGreaterEqual(seen["updates"], 2)
        self.assertIn("syncbased.INFO", seen["logs"])
        self.assertIn("trace(s)", seen["vtrace"])
        self.assertIn("thread profile: total", seen["profiles"])
        self.assertIn("fortuneDb", seen["glob"])
        self.assertIn(f"{ALICE.rsplit(':', 1)[0]},fortuneDb", seen["syncbase"])
        self.assertIn("fortuneCollection", seen["syncbase"])
        self.assertIn("k1", seen["rows"])
        self.assertIn("hello", seen["rows"])
        self.assertIn("put k2 = live value", seen["watch"])
        self.assertEqual(seen["members"], 2)
        # per syncgroup, the member this daemon syncs with shows its rounds and lag
        self.assertTrue(any(r.isdigit() and int(r) > 0 for r in seen["member_rounds"]),
                        seen["member_rounds"])
        self.assertTrue(any(x.lstrip("-").isdigit() for x in seen["member_lag"]),
                        seen["member_lag"])
        self.assertIn("rounds", seen["progress"])
        self.assertIn("records-in", seen["progress"])
        for page, text in seen.items():
            if isinstance(text, str):
                self.assertNotIn("ERROR", text, page)
        # the daemon's Prometheus exposition carries its sync progress per peer
        import re
        from twisted.web.client import Agent, readBody
        a.stderr.seek(0)
        m = re.search(rb"metrics at (http://[\d.]+:\d+/metrics)", a.stderr.read())
        self.assertIsNotNone(m, "syncbased logged no metrics address")
        resp = yield Agent(reactor).request(b"GET", m.group(1))
        metrics = (yield readBody(resp)).decode()
        self.assertRegex(metrics, r'v23_syncbase_sync_rounds_total\{db="[^"]*fortuneDb",'
                                  r'peer="[^"]+"\} [1-9]')
        self.assertIn("v23_syncbase_sync_lag_seconds{", metrics)
        # per syncgroup: two members, and a successful round with one of them
        self.assertRegex(metrics, r'v23_syncbase_syncgroup_members\{db="[^"]*fortuneDb",'
                                  r'syncgroup="[^"]+"\} 2\.0')
        sg_lag = re.search(r'v23_syncbase_syncgroup_lag_seconds\{db="[^"]*fortuneDb",'
                           r'syncgroup="[^"]+"\} (\S+)', metrics)
        self.assertIsNotNone(sg_lag, metrics)
        self.assertGreaterEqual(float(sg_lag.group(1)), 0.0)
        # rows of the syncgroup's collection: k1 (at least) went out to b; none came in
        out = re.search(r'v23_syncbase_syncgroup_rows_out_total\{db="[^"]*fortuneDb",'
                        r'syncgroup="[^"]+"\} (\S+)', metrics)
        self.assertIsNotNone(out, metrics)
        self.assertGreaterEqual(float(out.group(1)), 1.0)
        self.assertRegex(metrics, r'v23_syncbase_syncgroup_rows_in_total\{db="[^"]*fortuneDb",'
                                  r'syncgroup="[^"]+"\} 0\.0')
        self.assertIn("v23_rpc_server_latency_ms_bucket{", metrics)
        w, h, rows = png_pixels(open(shot, "rb").read())
        bg = rows[h - 1][w - 1]
        inked = sum(1 for r in rows for px in r if px != bg)
        self.assertGreater(inked / (w * h), 0.03, "the stats page looks empty")

    async def _put(self, c, k, v):
        await c.put(self.ctx, k, v)

    def _drive(self, url, put_k2, shot):
        from playwright.sync_api import sync_playwright
        seen = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(url + "/name")
                seen["name"] = page.inner_text("main")
                page.goto(url + "/stats?s=system")
                page.wait_for_function(
                    "document.querySelector('[data-stat=\"system/uptime\"]')"
                    ".dataset.updated >= 2", timeout=30000)
                seen["updates"] = int(page.get_attribute("[data-stat='system/uptime']",
                                                         "data-updated"))
                page.screenshot(path=shot)
                for name in ("logs", "vtrace", "profiles", "glob", "syncbase"):
                    page.goto(f"{url}/{name}")
                    seen[name] = page.inner_text("main")
                page.click("text=fortuneCollection")
                page.wait_for_selector("#rows")
                seen["rows"] = page.inner_text("#rows")
                page.wait_for_timeout(1500)          # the Watch feed starts from now
                from twisted.internet import threads as th
                th.blockingCallFromThread(reactor, put_k2)
                page.wait_for_selector("#watch li", timeout=30000)
                seen["watch"] = page.inner_text("#watch")
                page.goto(url + "/syncbase")
                page.click("text=syncgroups")
                page.wait_for_selector("#progress")
                seen["members"] = page.locator(".members tr").count() - 1
                seen["member_rounds"] = page.locator(".members td.sync-rounds").all_inner_texts()
                seen["member_lag"] = page.locator(".members td.sync-lag-seconds").all_inner_texts()
                seen["progress"] = page.inner_text("#progress")
                seen["syncgroups"] = page.inner_text("main")
            finally:
                browser.close()
        return seen
