"""dischargerd: serves a discharger for third-party caveats (v23py's own daemon).

    dischargerd [--name=NAME] [--endpoint-file-name=FILE] [--revocation-db=FILE]
                [--discharge-expiry=24h] [v23 runtime flags]

Serves ``v.io/x/ref/services/discharger.Discharger`` (what Go's and our runtime ask
for discharges) at the root of its endpoint, to everyone: it discharges the
third-party caveats naming its principal's key whose conditions hold for the
caller, with discharges valid for --discharge-expiry. With --revocation-db, the
revocation caveats recorded in that SQLite file (``discharger bless`` makes them,
``discharger revoke`` revokes them) are checked on every request. Prints
``ENDPOINT=<rooted endpoint name>`` once it listens (and writes that name to
--endpoint-file-name), mounts itself under --name if given, and runs until
SIGINT/SIGTERM.
"""
import sys


def log(text):
    sys.stderr.write(f"dischargerd: {text}\n")
    sys.stderr.flush()


async def run(reactor, argv):
    import v23py
    from v23py import security
    from v23py import discharger as dis

    flags = v23py.FlagSet("dischargerd")
    name = flags.string("name", "", "Name to mount the discharger under.")
    ep_file = flags.string("endpoint-file-name", "", "Write the endpoint name to this file.")
    db = flags.string("revocation-db", "", "SQLite file of revocable caveats (made by "
                      "'discharger bless'); without it, revocation caveats are never discharged.")
    expiry = flags.duration("discharge-expiry", 24 * 3600.0,
                            "How long the discharges issued stay valid.")
    ctx, shutdown = v23py.init(argv, flags=flags, reactor=reactor)
    if expiry() <= 0:
        log("--discharge-expiry must be positive")
        await shutdown()
        return 2
    stop = v23py.wait_for_signal(ctx)
    rl = None
    if db():
        try:
            rl = dis.RevocationList(db())
        except Exception as e:
            log(f"cannot open --revocation-db {db()}: {e}")
            await shutdown()
            return 1
        dis.use_revocation_list(rl)
    server = await v23py.with_new_server(
        ctx, name(), dis.DischargerServer(dis.Discharger(expiry=expiry())),
        security.allow_everyone())
    ep = "/" + str(server.endpoints[0])
    if ep_file():
        with open(ep_file(), "w") as f:
            f.write(ep + "\n")
    sys.stdout.write(f"ENDPOINT={ep}\n")
    sys.stdout.flush()
    await stop
    dis.use_revocation_list(None)
    await shutdown()
    if rl is not None:
        rl.close()
    return 0


def main(argv=None):
    from v23py.runtime import run_program
    run_program(run, sys.argv[1:] if argv is None else argv, default_code=0)


if __name__ == "__main__":
    main()
