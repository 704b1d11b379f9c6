"""The fortune server's policy: which interface it serves and who may call it.

This is the Python counterpart of the tutorial's ``server/util`` package
(``MakeAuthorizer``).  One fortune-server program covers both stages of the
tutorials:

* basics: the untagged ``fortune/ifc`` interface (``ifc/fortune.vdl``) and
  Vanadium's default authorizer;
* permissions-authorizer (``--perms`` given): the tagged ``fortune/ifc``
  interface of that tutorial (``fortune/tagged/fortune.vdl``: ``Get`` carries
  the tag ``Reader = MyTag("R")``, ``Add`` the tag ``Writer = MyTag("W")``) and
  a permissions authorizer keyed on the tag type ``fortune/ifc.MyTag``, with
  the permissions read from the JSON in ``--perms``
  (``{"R": {"In": [...], "NotIn": [...]}, "W": {...}}``);
* the advanced tutorials' own authorizers (``--authorizer=NAME``, a flag of
  this port: the Go tutorials rewrite ``util/authorizer.go`` and rebuild):
  ``consultants`` (suffix-part2) and ``friend-window``
  (custom-authorizer, with its ``--start`` and ``--length`` hours); see
  fortune.authorizers. Like the Go servers at that point of the tutorials,
  these serve the tagged interface.

And which objects it serves (the tutorial's ``MakeDispatcher``):

* by default one fortune service at the endpoint's root;
* with ``--dispatcher=registry`` (the suffix tutorials' dispatcher, a flag of
  this port: the Go tutorial rebuilds its server instead), a fortune service
  per suffix, made on first use, and a root listing them (fortune.dispatcher).
"""
import sys

PERMS_FLAG = "perms"
DISPATCHER_FLAG = "dispatcher"
DISPATCHERS = ("", "registry")
AUTHORIZER_FLAG = "authorizer"
AUTHORIZERS = ("", "consultants", "friend-window")


def add_flags(flags):
    """Declare the policy flags on a v23py.FlagSet."""
    flags.string(PERMS_FLAG, "", "JSON-encoded access.Permissions")
    flags.string(DISPATCHER_FLAG, "", "Objects to serve: empty for one fortune service, "
                 "'registry' for one per suffix (the suffix tutorials' dispatcher)")
    flags.string(AUTHORIZER_FLAG, "", "Authorization policy: empty for the default (or "
                 "--perms), 'consultants' (suffix-part2), 'friend-window' (custom-authorizer)")
    flags.int("start", 12, "Hour when friends may start access.")
    flags.int("length", 1, "Number of hours the window stays open.")


def authorizer_kind(flags):
    """The --authorizer value (ValueError for an unknown one)."""
    kind = flags.get(AUTHORIZER_FLAG)
    if kind not in AUTHORIZERS:
        raise ValueError(f"--{AUTHORIZER_FLAG}: unknown authorizer {kind!r} "
                         f"(want one of: {', '.join(repr(a) for a in AUTHORIZERS)})")
    return kind


def perms_mode(flags):
    return flags.is_set(PERMS_FLAG)


def tagged_mode(flags):
    """Whether the tagged fortune interface is served (its tags drive the policy)."""
    return perms_mode(flags) or authorizer_kind(flags) != ""


def read_perms(text, err=None):
    """The permissions in --perms.  Like the tutorial's server, a bad value is
    not fatal: it leaves the permissions empty, so every call is denied (we
    also say so on stderr)."""
    from v23py import verror
    from v23py.security import access
    try:
        return access.read_permissions(text)
    except verror.VError as e:
        (err or sys.stderr).write(f"fortune-server: ignoring --{PERMS_FLAG}: {e}\n")
        return access.Permissions()


def tag_type():
    """The vdl.Type of the tutorial's method tags (fortune/ifc.MyTag)."""
    from v23py import vdl
    from fortune import tagged
    return vdl.type_of(tagged.Reader)


def make_authorizer(flags):
    from v23py import security
    kind = authorizer_kind(flags)
    if kind == "consultants":
        from fortune.authorizers import ConsultantsAuthorizer
        from fortune import tagged
        return ConsultantsAuthorizer(tagged.Reader)
    if kind == "friend-window":
        from fortune.authorizers import FriendWindowAuthorizer
        return FriendWindowAuthorizer(flags.get("start"), flags.get("length"))
    if not perms_mode(flags):
        return security.default_authorizer()
    from v23py.security import access
    return access.permissions_authorizer(read_perms(flags.get(PERMS_FLAG)), tag_type())


def make_server_object(flags, impl):
    """The served object for a FortuneServerMethods implementation."""
    if tagged_mode(flags):
        from fortune.tagged import FortuneServer
    else:
        from fortune.ifc import FortuneServer
    return FortuneServer(impl)


def make_dispatcher(flags, make_impl):
    """None (serve one object) or the dispatcher --dispatcher asks for;
    raises ValueError for an unknown value."""
    kind = flags.get(DISPATCHER_FLAG)
    if kind not in DISPATCHERS:
        raise ValueError(f"--{DISPATCHER_FLAG}: unknown dispatcher {kind!r} "
                         f"(want one of: {', '.join(repr(d) for d in DISPATCHERS)})")
    if not kind:
        return None
    from fortune.dispatcher import Registry
    return Registry(lambda: make_server_object(flags, make_impl()), make_authorizer(flags))
