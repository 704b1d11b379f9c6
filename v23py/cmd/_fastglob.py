"""``namespace glob`` without the runtime: the namespace client's sans-IO Glob walk
(v23py.naming.globwalk) with its ``__Glob`` calls made over blocking sockets
(v23py.cmd._fastcall.Session) instead of Twisted.

The common case only: ``namespace [--v23.namespace.root=R ...] glob [-l]
[-fail-on-any-error] <pattern>`` with credentials in V23_CREDENTIALS, the roots from
the flags or V23_NAMESPACE*, and every server met a plain TCP endpoint (or a
``/host:port`` address).  Servers are checked as the runtime's ``namespace`` checks
them (security.AddressOnlyTrust) and given the same blessings.  Anything else -- another
flag or form, no credentials, the default (public) root, a blessing pattern in the
name, a proxy, discharges, a call that fails or times out -- returns None before
anything is printed, and the runtime's path runs the command (and reports its errors).
Errors a mount table streams back inside a Glob are printed as the runtime prints them;
so is a Glob call the server answered that fails part-way (its error response, or its
conn cut mid-stream): the entries it streamed first count, then its error.
"""
import collections
import time

from v23py import security, vdl
from v23py.flags import FlagError, FlagSet, namespace_roots
from v23py.naming import globwalk, names as _names
from v23py.naming.endpoint import parse_endpoint
from v23py.rpc import wire

from v23py.cmd import _fastcall
from v23py.cmd._outcome import failed
from v23py.cmd.namespace import GlobPrinter

TIMEOUT = 60.0     # the command's whole budget, as run_command's context


def _args(argv, commands):
    """(roots, long, fail_on_any_error, pattern) for the forms this path runs, else None."""
    fs = FlagSet("namespace")
    fs.list("v23.namespace.root", [], "")
    try:
        rest = fs.parse(argv)
        if len(rest) < 1 or rest[0] != "glob":
            return None
        commands["glob"](fs)
        rest = fs.parse(rest[1:])
    except FlagError:
        return None
    if len(rest) != 1:
        return None
    roots = namespace_roots(fs, None)
    if None in roots or not all(_names.split_address_name(r)[0] for r in roots):
        return None
    return roots, fs.get("l"), fs.get("fail-on-any-error"), rest[0]


def _endpoint(server):
    address, suffix = _names.split_address_name(server)
    if not address or suffix:
        raise _fastcall._Fallback()
    ep = parse_endpoint(address)
    if ep.protocol not in _fastcall._TCP or ep.routes:
        raise _fastcall._Fallback()
    return ep


def walk(credentials, roots, pattern, deadline):
    """Every reply of the Glob, its calls made one at a time; raises to fall back."""
    if "__(" in pattern:
        raise _fastcall._Fallback()     # a blessing pattern in the name: the runtime's
    principal = security.load_principal(credentials, read_only=True)
    trust = security.AddressOnlyTrust()
    start, rooted = globwalk.root_entry(roots, _names.clean(pattern), time.time)
    walk = globwalk.GlobWalk(start, rooted, time.time)
    sessions = {}
    results = []
    calls = collections.deque()
    try:
        steps = walk.begin()
        while True:
            for step in steps:
                if isinstance(step, globwalk.GlobCall):
                    calls.append(step)
                else:
                    results.append(step)
            if not calls:
                return results
            # one call at a time, in the order the walk asked for them: any failure
            # sends us back to the runtime, which runs them all at once
            call = calls.popleft()
            # the runtime tries the servers in order; the first one failing sends us
            # back to it
            ep = _endpoint(call.servers[0])
            key = str(ep)
            sess = sessions.get(key)
            if sess is None:
                sess = sessions[key] = _fastcall.Session(principal, ep, deadline, trust)
            try:
                reply, _ = sess.call(call.name, "__Glob", [vdl.StringType], [call.pattern],
                                     [], stream_type=wire.GlobReplyType)
            except _fastcall.CallFailed as e:
                # what the table streamed before it failed counts, as with the runtime
                steps = walk.received(call, e.items) + walk.failed(call, e.error)
                if e.closed:
                    sessions.pop(key).close()
                continue
            steps = walk.replied(call, reply)
    finally:
        for s in sessions.values():
            s.close()


def glob(argv, commands, out, err):
    """Run ``namespace glob`` here and return its exit code, or None for the runtime."""
    if _fastcall.disabled():
        return None
    start = time.monotonic()
    parsed = _args(argv, commands)
    credentials = _fastcall.credentials_dir()
    if parsed is None or not credentials:
        return None
    roots, long, fail_on_any_error, pattern = parsed
    try:
        results = walk(credentials, roots, pattern, start + TIMEOUT)
    except Exception:     # _Fallback, or anything the runtime reports better
        _fastcall.note_fallback(start)
        return None
    printer = GlobPrinter(long, fail_on_any_error, out, err, time.time)
    for r in results:
        printer.add(r)
    try:
        code = printer.finish()
    except RuntimeError as e:
        code = failed(e, err)
    out.flush()
    return code


__all__ = ["glob", "walk"]
