"""Glob patterns (Go's v23/glob, simplified) and the server side of ``__Glob``.

A pattern is a "/"-separated list of elements; each element is a shell
pattern (``*``, ``?``, ``[...]``, ``\\`` escapes) or ``...`` (any number of
further elements, including none).
"""
import fnmatch
import re

from v23py import naming, verror

MAX_RECURSIVE_GLOB_DEPTH = 10


class Element:
    def __init__(self, text):
        self.text = text
        self._re = re.compile(fnmatch.translate(text), re.DOTALL)

    def match(self, name):
        return bool(self._re.match(name))

    @property
    def literal(self):
        return not any(c in self.text for c in "*?[\\")


class Glob:
    def __init__(self, elems, recursive=False, restricted=False):
        self.elems = list(elems)
        self.recursive = recursive   # pattern ended in "..."

    @classmethod
    def parse(cls, pattern):
        if pattern == "":
            return cls([])
        if pattern.startswith("/"):
            raise verror.BadArg.new(f"bad argument: glob pattern {pattern!r} is rooted")
        parts = pattern.split("/")
        recursive = False
        elems = []
        for i, p in enumerate(parts):
            if p == "...":
                if i != len(parts) - 1:
                    raise verror.BadArg.new(f"bad argument: '...' must be last in {pattern!r}")
                recursive = True
            elif p == "":
                raise verror.BadArg.new(f"bad argument: empty element in glob {pattern!r}")
            else:
                elems.append(Element(p))
        return cls(elems, recursive)

    def __len__(self):
        return len(self.elems)

    def empty(self):
        return not self.elems

    def head(self):
        if self.elems:
            return self.elems[0]
        return Element("*")   # recursive: any child

    def tail(self):
        if self.elems:
            return Glob(self.elems[1:], self.recursive)
        return Glob([], self.recursive)

    def finished(self):
        return not self.elems and not self.recursive

    def __str__(self):
        parts = [e.text for e in self.elems]
        if self.recursive:
            parts.append("...")
        return "/".join(parts)


def _entry(name, is_leaf=False, servers=(), mt=False):
    from v23py.rpc import _wiretypes as wt
    return wt.cls("GlobReply")("Entry", wt.cls("MountEntry")(
        Name=name, Servers=list(servers), ServesMountTable=mt, IsLeaf=is_leaf))


def _error(name, err):
    from v23py.rpc import _wiretypes as wt
    return wt.cls("GlobReply")("Error", wt.cls("GlobError")(Name=name, Error=err))


async def serve_glob(server, ctx, call, receiver, pattern):
    """Stream GlobReply values for ``pattern`` below ``receiver`` (Go's globInternal)."""
    from v23py.rpc.model import maybe_deferred, object_to_invoker
    from v23py.runtime.server import (
        GlobMatchesOmitted, GlobMaxRecursionReached, GlobNotImplemented)
    from v23py.security import access
    g = Glob.parse(pattern)
    disp = server.dispatcher
    # Like Go, each object met is authorized as a call tagged Resolve (Debug for the
    # reserved names), so a policy keyed on tags decides who sees what.
    tags = [access.Resolve]
    if receiver.startswith("__") or (receiver == "" and pattern.startswith("__")):
        disp = server.reserved_dispatcher
        tags = [access.Debug]
    if disp is None:
        raise GlobNotImplemented.new("glob not implemented")
    queue = [("", g, 0)]
    omitted = False
    while queue:
        if ctx.cancelled():
            return
        name, gl, depth = queue.pop(0)
        suffix = naming.join(receiver, name) if receiver else name
        if depth > MAX_RECURSIVE_GLOB_DEPTH:
            call.send(_error(name, GlobMaxRecursionReached.new("max recursion level reached")))
            continue
        try:
            obj, auth = await server._dispatch(disp, ctx, suffix)
        except verror.VError as e:
            call.send(_error(name, verror.NoExist.new(str(e))))
            continue
        if obj is None:
            call.send(_error(name, verror.NoExist.new("does not exist: nil object")))
            continue
        secall = server._security_call(call, "Glob", suffix, tags)
        if secall is not None:
            try:
                (auth or _default()).authorize(secall)
            except Exception:
                omitted = True
                continue
        inv = object_to_invoker(obj)
        gs = inv.globber()
        if gs is None:
            if gl.empty():
                call.send(_entry(name, is_leaf=True))
            else:
                call.send(_error(name, GlobNotImplemented.new("glob not implemented")))
            continue
        if gs.all_globber is not None:
            try:
                replies = await maybe_deferred(gs.all_globber, ctx, call, gl)
                for r in replies or ():
                    inner = r.value
                    inner.Name = naming.join(name, inner.Name) if inner.Name else name
                    call.send(r)
            except Exception as e:
                call.send(_error(name, verror.Internal.new(str(e))))
            continue
        if gs.children_globber is not None:
            if gl.empty():
                call.send(_entry(name))
                if gl.recursive:
                    depth += 1
                else:
                    continue
            matcher, tail = gl.head(), gl.tail()
            try:
                children = await maybe_deferred(gs.children_globber, ctx, call, matcher)
            except Exception as e:
                call.send(_error(name, verror.Internal.new(str(e))))
                continue
            for child in children or ():
                if not child or "/" in child or not matcher.match(child):
                    continue
                queue.append((naming.join(name, child) if name else child, tail, depth))
    if omitted:
        call.send(_error("", GlobMatchesOmitted.new("some matches might have been omitted")))


def _default():
    from v23py import security
    return security.default_authorizer()
