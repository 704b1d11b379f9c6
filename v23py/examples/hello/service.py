"""The hello-world tutorial's service: Get returns a fixed greeting."""
from v23py.context import Context
from v23py.examples.hello.ifc import HelloServerMethods
from v23py.rpc.stubs import ServerCall

GREETING = "Hello World!"


class Hello(HelloServerMethods):
    def Get(self, ctx: Context, call: ServerCall) -> str:
        return GREETING


def make() -> Hello:
    return Hello()
