"""``__debug/logs``: Go's LogFile service over the files in the log directory."""
import os

from v23py import verror
from v23py.v23.services import logreader as _svc

from ._util import sleep

_READ = 2048
FOLLOW_PERIOD = 0.5   # Go's followReader polls every 500 ms at the end of the file


def _filename(root, name):
    p = os.path.normpath(os.path.join(root, *[e for e in name.split("/") if e]))
    if not (p == root or p.startswith(root.rstrip(os.sep) + os.sep)):
        raise verror.BadArg.new(f"{name}: outside of root directory")
    return p


class _LogFile(_svc.LogFileServerMethods):
    def __init__(self, root, suffix):
        self.root = os.path.normpath(root)
        self.suffix = suffix

    def Size(self, ctx, call):
        fname = _filename(self.root, self.suffix)
        try:
            st = os.stat(fname)
        except FileNotFoundError:
            raise verror.NoExist.new(f"does not exist: {fname}")
        except OSError as e:
            raise verror.Unknown.new(f"failed to stat {fname}: {e}")
        if os.path.isdir(fname):
            raise verror.Unknown.new(f"{fname} is a directory")
        return st.st_size

    async def ReadLog(self, ctx, call, startPos, numEntries, follow):
        fname = _filename(self.root, self.suffix)
        try:
            f = open(fname, "rb")
        except FileNotFoundError:
            raise verror.NoExist.new(f"does not exist: {fname}")
        except OSError as e:
            raise verror.Unknown.new(f"failed to open: {fname}: {e}")
        with f:
            try:
                offset = f.seek(max(startPos, 0))
            except OSError as e:
                raise verror.Unknown.new(f"failed to seek to start: {fname}: {e}")
            if numEntries == _svc.AllEntries or numEntries < 0:
                numEntries = 2**31 - 1
            buf = b""
            n = 0
            batch = []
            while n < numEntries:
                i = buf.find(b"\n")
                if i < 0:
                    chunk = f.read(_READ)
                    if chunk:
                        buf += chunk
                        continue
                    if batch:
                        await call.send_many(batch)
                        batch = []
                    if follow:
                        if await sleep(ctx, FOLLOW_PERIOD):
                            raise verror.Canceled.new("canceled: context canceled")
                        continue
                    if n > 0:
                        return offset
                    raise verror.EndOfFile.new("end of file")
                line, buf = buf[:i], buf[i + 1:]
                batch.append(_svc.LogEntry(Position=offset,
                                           Line=line.decode("utf-8", "replace").strip()))
                offset += i + 1
                n += 1
                if len(batch) >= 256:
                    await call.send_many(batch)
                    batch = []
            if batch:
                await call.send_many(batch)
            return offset

    def GlobChildren__(self, ctx, call, matcher):
        d = _filename(self.root, self.suffix)
        if not os.path.exists(d):
            raise verror.NoExist.new(f"does not exist: {d}")
        if not os.path.isdir(d):
            return []
        try:
            names = os.listdir(d)
        except OSError as e:
            raise verror.Unknown.new(str(e))
        return [n for n in names if matcher.match(n)]


def LogFileServer(root, suffix):
    return _svc.LogFileServer(_LogFile(root, suffix))
