"""The suffix tutorials' dispatcher: one fortune service per suffix.

``fortune-server --dispatcher=registry`` serves, under one endpoint,

* at the empty suffix, a root object with no methods whose only job is to
  list the services made so far as its children (``__Glob``), so that
  ``namespace glob "prophInc/*"`` finds them (Go's ChildrenGlobberInvoker);
* at any one-element suffix (``cassandra``, ``nostradamus``...), that
  suffix's own fortune service, made on first use (any call, including a
  signature or glob lookup), each with its own fortunes;
* nothing at deeper suffixes (``a/b``): the lookup fails.

Every object is guarded by the same authorizer (the one the server would
use for a single object: see fortune.util).
"""
import threading

from twisted.internet import defer

from v23py import rpc, verror


class ChildrenGlobber(rpc.Invoker):
    """An object with no methods whose children are the given names."""

    def __init__(self, children):
        self.children = list(children)

    def prepare(self, ctx, method, num_args):
        raise verror.UnknownMethod.new(f"method does not exist: {method}")

    def invoke(self, ctx, call, method, args):
        return defer.fail(verror.UnknownMethod.new(f"method does not exist: {method}"))

    def signature(self, ctx, call):
        return []

    def method_signature(self, ctx, call, method):
        raise verror.UnknownMethod.new(f"method does not exist: {method}")

    def globber(self):
        return rpc.GlobState(children_globber=lambda ctx, call, matcher: list(self.children))


class Registry:
    """Go's rpc.Dispatcher shape: ``lookup(ctx, suffix) -> (object, authorizer)``."""

    def __init__(self, make_object, authorizer):
        self.make_object = make_object    # () -> served object for a new suffix
        self.authorizer = authorizer
        self.lock = threading.Lock()
        self.registry = {}

    def lookup(self, ctx, suffix):
        if "/" in suffix:
            raise verror.Unknown.new("unsupported service name")
        with self.lock:
            if suffix == "":
                return ChildrenGlobber(self.registry), self.authorizer
            obj = self.registry.get(suffix)
            if obj is None:
                obj = self.registry[suffix] = self.make_object()
            return obj, self.authorizer

    def names(self):
        with self.lock:
            return sorted(self.registry)
