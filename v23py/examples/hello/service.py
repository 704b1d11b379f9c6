"""The hello-world tutorial's service: Get returns a fixed greeting."""
from v23py.examples.hello.ifc import HelloServerMethods

GREETING = "Hello World!"


class Hello(HelloServerMethods):
    def Get(self, ctx, call):
        return GREETING


def make():
    return Hello()
