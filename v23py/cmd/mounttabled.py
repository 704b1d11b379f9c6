"""mounttabled: runs the mount table daemon (Go's mounttabled, same flags).

    mounttabled [--v23.tcp.address=:PORT] [--acls=FILE] [--persist-dir=DIR]
                [--name=NAME] [--neighborhood-name=NAME] [--mounttable-logging=N]

Serves v.io/v23/services/mounttable.MountTable at every name below its root,
publishes endpoints that serve a mount table ("@m@"), prints
``NAME=<rooted endpoint name>`` on stdout once it listens, and runs until
SIGINT/SIGTERM. With --name it also mounts itself (as a mount table) under that
name in its namespace, and keeps the mount alive.
"""
import os
import sys
import time

REMOUNT_PERIOD = 60.0      # seconds between re-mounts under --name, as Go servers
MOUNT_TTL = 80             # period + slack


def log(text):
    sys.stderr.write(f"mounttabled: {text}\n")
    sys.stderr.flush()


async def listen_mount_table(ctx, dispatcher):
    """A listening RPC server for dispatcher whose endpoints say "m"."""
    import v23py
    from v23py.runtime.server import Server
    rt = v23py.get_runtime(ctx)
    mgr = rt._new_flow_manager(listening=True)
    server = Server(ctx, "", dispatcher, principal=rt.principal, flow_manager=mgr,
                    serves_mount_table=True)
    names = server._blessing_names()
    for protocol, address in rt.listen_addrs():
        p = await mgr.listen(address, protocol=protocol, blessing_names=names,
                             serves_mount_table=True)
        server.ports.append(p)
    rt.servers.append(server)
    return server


def keep_mounted(ctx, name, server, reactor):
    """Mount server's endpoints under name (as a mount table) now and every minute,
    in the background."""
    import v23py
    from v23py.runtime.namespace import Namespace, RpcTransport
    from v23py.runtime.publisher import Publisher
    rt = v23py.get_runtime(ctx)
    pub = Publisher(ctx, Namespace(rt.namespace_roots, RpcTransport(rt.client)), reactor,
                    period=REMOUNT_PERIOD, slack=MOUNT_TTL - REMOUNT_PERIOD)
    for ep in server.endpoints:
        pub.add_server(ep)
    pub.add_name(name, serves_mount_table=True)
    return pub


async def run(reactor, argv):
    import v23py
    from v23py.mounttable import core as core
    from v23py.mounttable.server import MountTableDispatcher

    flags = v23py.FlagSet("mounttabled")
    acls = flags.string("acls", "", "ACL file.  Default is to allow all access.")
    logging_level = flags.int("mounttable-logging", 1,
                              "Mounttabled specific logging control, 0 for no logging, 1 for "
                              "mount/unmount and 2 for all other operations.")
    mount_name = flags.string("name", "", "If provided, causes the mount table to mount itself "
                              "under this name.")
    nh_name = flags.string("neighborhood-name", "", "If provided, enables sharing with the local "
                           "neighborhood with the provided name.")
    persist_dir = flags.string("persist-dir", "", "Directory in which to persist permissions.")
    ctx, shutdown = v23py.init(argv, flags=flags, reactor=reactor)
    stop = v23py.wait_for_signal(ctx)
    if nh_name():
        log("--neighborhood-name is accepted but neighborhood (mDNS) sharing is not supported")

    table = core.MountTable(clock=time.time)
    persist = None
    if persist_dir():
        persist = core.PermsLog(table, persist_dir())
    if acls():
        try:
            table.load_permissions_file(acls())
        except Exception as e:
            sys.stderr.write(f"ERROR: mounttablelib.StartServers failed: perms file {acls()} "
                             f"invalid: {e}\n")
            await shutdown()
            return 1
    level = logging_level()
    dispatcher = MountTableDispatcher(table, clock=time.time,
                                      component=os.path.basename(sys.argv[0] or "mounttabled"),
                                      log_level=level, log=log)
    dispatcher.export_stats("mounttable")   # (Go's mounttabled's prefix)
    server = await listen_mount_table(ctx, dispatcher)
    eps = server.endpoints
    if not eps:
        sys.stderr.write("ERROR: mounttabled: no endpoints\n")
        await shutdown()
        return 1
    name = eps[0].name()
    log(f"Mount table service at: {mount_name()!r} endpoint: {name}")
    sys.stdout.write(f"NAME={name}\n")
    sys.stdout.flush()
    pub = None
    if mount_name():
        pub = keep_mounted(ctx, mount_name(), server, reactor)
    signum = await stop
    log(f"Received signal {signum}")
    if pub is not None:
        await pub.stop()
    if persist is not None:
        persist.close()
    await shutdown()
    return 0


def main(argv=None):
    from v23py.runtime import run_program
    run_program(run, sys.argv[1:] if argv is None else argv, default_code=0)

if __name__ == "__main__":
    main()
