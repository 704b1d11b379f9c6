"""The server side of ``__Glob`` (Go's globInternal), with the one glob matcher of
:mod:`v23py.naming.glob` (Go's path.Match semantics, ``...`` and restricted ``***``).
"""
from v23py import naming, security, verror
from v23py.security import access
from v23py.naming.glob import MAX_RECURSIVE_GLOB_DEPTH, Glob
from v23py.rpc.model import maybe_deferred, object_to_invoker
from v23py.rpc import wire

# Errors of v.io/v23/rpc/reserved.
_RESERVED_PKG = "v.io/v23/rpc/reserved."
GlobMaxRecursionReached = verror.ErrorId(_RESERVED_PKG + "GlobMaxRecursionReached",
                                         verror.NoRetry, "max recursion level reached")
GlobMatchesOmitted = verror.ErrorId(_RESERVED_PKG + "GlobMatchesOmitted", verror.NoRetry,
                                    "some matches might have been omitted")
GlobNotImplemented = verror.ErrorId(_RESERVED_PKG + "GlobNotImplemented", verror.NoRetry,
                                    "glob not implemented")


_entry, _error = wire.glob_entry, wire.glob_error


async def serve_glob(server, ctx, call, receiver, pattern):
    """Stream GlobReply values for ``pattern`` below ``receiver`` (Go's globInternal)."""
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
        except Exception as e:
            # any failed lookup (not only a VError) is that name's error and the walk
            # goes on, as in Go, where Lookup's error is just a value
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
        try:
            inv = object_to_invoker(obj)
            gs = inv.globber()
        except Exception as e:
            call.send(_error(name, verror.Internal.new(str(e))))
            continue
        if gs is None:
            if len(gl) == 0:
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
            if len(gl) == 0:
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
    return security.default_authorizer()
