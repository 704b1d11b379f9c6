"""The principal commands that run the RPC runtime (bless over the network, recvblessings)."""
import base64
import os

from v23py import security as sec
from v23py import verror
from v23py.cmd import _entry
from v23py.cmd.principal._common import mutable_principal
from v23py.cmd.principal._flags import CommandError


# --- commands that need the RPC runtime ---

def _run_reactor(fn):
    """Run async fn(reactor) on the Twisted reactor; re-raise its error here."""
    _entry.resume_gc()   # (a server waits here, for as long as it takes)
    from twisted.internet import defer, task
    box = {}

    async def main(reactor):
        try:
            await fn(reactor)
        except BaseException as e:  # carried out of the reactor
            box["err"] = e

    try:
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    except SystemExit:
        pass
    if "err" in box:
        raise box["err"]


def _runtime_argv(env):
    argv = []
    for name in ("v23.tcp.address", "v23.tcp.protocol", "v23.proxy"):
        if env.flags.get(name):
            argv.append("--%s=%s" % (name, env.flags[name]))
    for root in env.flags.get("v23.namespace.root") or []:
        argv.append("--v23.namespace.root=%s" % root)
    return argv


async def _bless_over_network(env, reactor, p, target, with_b, ext, cavs, remote_key, token):
    from v23py import runtime, rpc, vdl
    from v23py.rpc import options as rpcopts

    class KeyCheck(sec.Authorizer):
        key = None

        def authorize(self, call):
            pk = call.remote_blessings.public_key if call.remote_blessings else None
            got = str(pk) if pk is not None else ""
            if got != remote_key:
                raise verror.NotTrusted.new("key mismatch: Remote end has public key %s, want %s"
                                            % (got, remote_key))
            KeyCheck.key = pk

    class Granted(rpcopts.GrantedBlessings):
        def __init__(self):
            pass

        @property
        def blessings(self):
            return p.bless(KeyCheck.key, with_b, ext, cavs[0], *cavs[1:])

    ctx, shutdown = runtime.init(_runtime_argv(env), principal=p, reactor=reactor,
                                 exit_on_error=False)
    try:
        await rpc.client_call(ctx, target, "Grant", [token], [vdl.StringType], [],
                              opts=(rpcopts.ServerAuthorizer(KeyCheck()),
                                    rpcopts.NameResolutionAuthorizer(sec.allow_everyone()),
                                    Granted()))
    except verror.VError as e:
        raise CommandError('failed to make RPC to "%s": %s' % (target, e))
    finally:
        await shutdown()


def cmd_recvblessings(env, args):
    if args:
        raise CommandError("command accepts no arguments")
    p = mutable_principal(env)
    token = base64.urlsafe_b64encode(os.urandom(24)).decode()
    _run_reactor(lambda reactor: _recv_blessings(env, reactor, p, token))


async def _recv_blessings(env, reactor, p, token):
    import hmac
    from twisted.internet import defer
    from v23py import runtime
    done = defer.Deferred()
    f = env.flags
    for_peer = f.get("for-peer", "...")
    set_default = f.get("set-default", True)

    class Receiver:
        def describe__(self):
            from v23py import vdl
            from v23py.rpc.model import ArgDesc, InterfaceDesc, MethodDesc
            return [InterfaceDesc("recvBlessingsService", "", methods=(
                MethodDesc("Grant", in_args=(ArgDesc("token", vdl.StringType),)),))]

        def Grant(self, ctx, call, got):
            b = getattr(call, "granted_blessings", None)
            if b is None or b.is_zero():
                raise verror.Unknown.new("no blessings granted by sender")
            if not isinstance(got, str) or not hmac.compare_digest(got.encode(), token.encode()):
                raise verror.Unknown.new("blessings received from unexpected sender")
            try:
                if set_default:
                    p.blessing_store.set_default(b)
                if for_peer:
                    p.blessing_store.set(b, sec.BlessingPattern(for_peer))
                sec.add_to_roots(p, b)
            except verror.VError as e:
                raise verror.Unknown.new("failed to store blessings %s: %s" % (b, e))
            env.out("Received blessings: %s" % b)
            env.stdout.flush()
            if not done.called:
                reactor.callLater(0.05, done.callback, None)
            return None

    ctx, shutdown = runtime.init(_runtime_argv(env), principal=p, reactor=reactor,
                                 exit_on_error=False)
    try:
        server = await runtime.with_new_server(ctx, "", Receiver(), sec.allow_everyone())
        ep = server.endpoints[0]
        name = ep.name() if callable(getattr(ep, "name", None)) else str(ep)
        env.out("Run the following command on behalf of the principal that will send "
                "blessings:")
        env.out("You may want to adjust flags affecting the caveats on this blessing, for "
                "example using")
        env.out("the --for flag")
        env.out()
        arg_file = f.get("remote-arg-file")
        if arg_file:
            import json   # (only this command writes json: ~2 ms of every other's start)
            try:
                with open(arg_file, "w") as fh:
                    json.dump({"remote_key": str(p.public_key), "remote_token": token,
                               "name": name}, fh, separators=(",", ":"))
            except OSError as e:
                raise CommandError("failed to write recvblessings info to %s: %s"
                                   % (arg_file, e))
            env.out('make "%s" accessible to the blesser, possibly by copying the file over '
                    'and then run:' % arg_file)
            env.stdout.write("principal bless --remote-arg-file=%s" % arg_file)
        else:
            env.out("principal bless --remote-key=%s --remote-token=%s %s"
                    % (p.public_key, token, name))
        env.out()
        env.out("...waiting for sender..")
        env.stdout.flush()
        await done
    finally:
        await shutdown()
