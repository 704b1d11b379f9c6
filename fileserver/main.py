"""fileserver: the globber tutorial's server (naming/globber.md).

Serves the directory tree under --root-dir (default ".") with a dispatcher
that maps each suffix to the file or directory of that relative path: a
directory object lists its entries as its children (GlobChildren__), so
``namespace glob "NAME/..."`` walks the tree; a file object is a leaf whose
GetContents and SetContents are not implemented (as in the tutorial). A
suffix naming nothing fails the lookup. Every object uses the default
authorizer. Flags: --mount-name (name in the default mount table, default
none), --root-dir, plus the v23 runtime flags. Like the Go server it prints
nothing and serves until SIGINT or SIGTERM.
"""
import os
import sys

from v23py import verror


class FileService:
    """A file: the tutorial leaves its methods unimplemented."""

    def __init__(self, name):
        self.name = name

    def GetContents(self, ctx, call):
        raise verror.Unknown.new("method not implemented")

    def SetContents(self, ctx, call, contents):
        raise verror.Unknown.new("method not implemented")


class DirService:
    """A directory: its entries are its children in the namespace."""

    def __init__(self, name):
        self.name = name

    def GlobChildren__(self, ctx, call, matcher):
        try:
            entries = os.listdir(self.name)
        except OSError as e:
            raise verror.Unknown.new(str(e))
        return [e for e in entries if matcher.match(e)]


class Dispatcher:
    """Go's rpc.Dispatcher shape: ``lookup(ctx, suffix) -> (object, authorizer)``;
    None for the authorizer means the default one."""

    def __init__(self, root_dir):
        self.root_dir = root_dir

    def lookup(self, ctx, suffix):
        parts = [p for p in suffix.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise verror.NoExist.new(f"stat {suffix}: no such file or directory")
        path = os.path.join(self.root_dir, *parts)
        try:
            is_dir = os.path.isdir(path) if os.path.lexists(path) else None
        except OSError as e:
            raise verror.Unknown.new(str(e))
        if is_dir is None:
            raise verror.Unknown.new(f"stat {path}: no such file or directory")
        return (DirService(path) if is_dir else FileService(path)), None


async def run(reactor, argv):
    import v23py
    flags = v23py.FlagSet("fileserver")
    name = flags.string("mount-name", "", "Name for service in default mount table.")
    root = flags.string("root-dir", ".", "The root directory of the file server.")
    ctx, shutdown = v23py.init(argv, flags=flags)
    stop = v23py.wait_for_signal(ctx)
    await v23py.with_new_dispatching_server(ctx, name(), Dispatcher(root()))
    await stop
    await shutdown()


def main(argv=None):
    from v23py.runtime import run_program
    run_program(run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
