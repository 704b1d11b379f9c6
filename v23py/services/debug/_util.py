"""Helpers shared by the debug services."""
from twisted.internet import defer


def sleep(ctx, seconds):
    """A Deferred fired after ``seconds`` or when ``ctx`` is done, whichever is first
    (with True when the context is done)."""
    from twisted.internet import reactor
    d = defer.Deferred()

    def fire(done):
        if not d.called:
            d.callback(done)
    timer = reactor.callLater(seconds, fire, False)
    unreg = ctx.on_done(lambda *_: fire(True))

    def cleanup(r):
        if timer.active():
            timer.cancel()
        unreg()
        return r
    return d.addBoth(cleanup)
