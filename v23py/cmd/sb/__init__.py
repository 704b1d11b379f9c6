"""sb: the Syncbase shell and management utility (Go's ``sb``: same commands, flags
and outputs)::

    sb [--service=NAME] [--db=BLESSING,NAME] [--create-if-absent] [--format=table|csv|json]
       [--csv-delimiter=,] <command>
      sh                    a syncQL shell (commands one per line; readline on a terminal)
      dump                  every collection (select k, v) and syncgroup of the database
      make-demo             the demo collections
      select <fields> from <collection> [where ...]
      sg [-target=SG] create|list|inspect|join|leave|destroy|eject
      acl [-target=service|db|cx|sg] [-cx=ID] [-sg=ID] get|add|rm|dump
      watch [<blessing>,<collection>[,<row>] ...]
      destroy <blessing>,<collection>
"""
from __future__ import annotations

import sys

import v23py
from v23py import runtime
from v23py.cmd._help import handle_version
from v23py.cmd.sb._cmdline import PROG, Cmd, State, UsageError, resolve
from v23py.cmd.sb._commands import (
    run_acl_add, run_acl_dump, run_acl_get, run_acl_rm, run_destroy, run_dump, run_make_demo,
    run_select, run_sg_create, run_sg_destroy, run_sg_eject, run_sg_inspect, run_sg_join,
    run_sg_leave, run_sg_list, run_watch)
from v23py.cmd.sb._shell import _run, run_sh


# --- the command tree ------------------------------------------------------------------

_SG_PERMS_HELP = [
    "Permissions for the new syncgroup. The permissions format for syncgroups is:",
    '{<tag>:{"In":[<blessing_pattern>,...],"Out":[<blessing_pattern>,...]},...}',
    "where the <tag>s Admin and Read must exist. The specified permissions must",
    "include at least one Admin."]
_VERBOSE = ["Show entire id of syncgroups and blessings"]


def _tree():
    sh = Cmd("sh", "Start a syncQL shell",
             "Connect to a database on the Syncbase service and start a syncQL shell.",
             run=run_sh)
    commands = [
        Cmd("dump", "Print a dump of the database", "Print a dump of the database.",
            run=run_dump),
        Cmd("make-demo", "Populate the db with dummy data", "Populate the db with dummy data.",
            run=run_make_demo),
        Cmd("select", "Display particular rows, or parts of rows",
            "Display particular rows, or parts of rows.",
            "<field_1,field_2,...> from <collection> [where <field> = <value>]",
            "<field_n> specifies a field in the collection <collection>.", run=run_select),
        Cmd("sg", "Manipulate syncgroups", "Manipulate syncgroups.",
            flags=[("t", "string", "", ["Syncgroup to act on."]),
                   ("target", "string", "", ["Syncgroup to act on."])],
            children=[
                Cmd("create", "Create a new syncgroup with the given spec",
                    "Create a new syncgroup with the given spec.",
                    "<collection_id>[ <collection_id>]*",
                    "Takes a space separated list of collection ids where each collection is "
                    "covered\nby this syncgroup.\n\nThe -perms flag can be used to specify a "
                    "specific set of permissions.\nAlternatively, leave the perms flag absent "
                    "for default permissions (principal\nhas Admin and Read) and use the acl "
                    "command to adjust these as desired.",
                    flags=[("description", "string", "", ["Description for the new syncgroup."]),
                           ("perms", "string", "", _SG_PERMS_HELP)],
                    run=run_sg_create),
                Cmd("list", "List all syncgroups on the database",
                    "List all syncgroups on the database.",
                    flags=[("v", "bool", False, _VERBOSE), ("verbose", "bool", False, _VERBOSE)],
                    run=run_sg_list),
                Cmd("inspect", "Show spec of a syncgroup",
                    "Show spec of the syncgroup specified by the -target flag.",
                    run=run_sg_inspect),
                Cmd("join", "Join specified syncgroup", "Join specified syncgroup.", "[<admin>]",
                    "<admin> is the name of a syncbase instance which is an Admin on the "
                    "syncgroup.\nIf <admin> is not specified join will look for syncgroups on "
                    "the local\nneighborhood.", run=run_sg_join),
                Cmd("leave", "Leave specified syncgroup", "Leave specified syncgroup.",
                    run=run_sg_leave),
                Cmd("destroy", "Destroy specified syncgroup", "Destroy specified syncgroup.",
                    run=run_sg_destroy),
                Cmd("eject", "Eject user from syncgroup", "Eject user from syncgroup.", "<user>",
                    "<user> should be the blessing of the user to eject.", run=run_sg_eject),
            ]),
        Cmd("acl", "Read or mutate the ACLs", "Read or mutate the ACLs.",
            flags=[("cx", "string", "", [
                       "The collection to act on, in format <blessing>,<collection>. (note: "
                       "requires", "-target=collection or cx)"]),
                   ("sg", "string", "", [
                       "The syncgroup to act on, in format <blessing>,<syncgroup>. (note: "
                       "requires", "-target=syncgroup or sg)"]),
                   ("target", "string", "db", [
                       "The access controller type to act on (service, db, database, cx, "
                       "collection,", "sg, syncgroup)."])],
            children=[
                Cmd("get", "Read a blessing's permissions", "Read a blessing's permissions.",
                    "<blessing>", "<blessing> is the blessing to check permissions for.",
                    run=run_acl_get),
                Cmd("add", "Add blessing to groups", "Add blessing to groups.",
                    "(<blessing> [!]<tag>(,[!]<tag>)* )+",
                    'The args are sequential pairs of the form "<blessing> <taglist>" A '
                    "taglist is\nmade up of a series of comma-separated tags. The optional "
                    'preface "!" puts the\nblessing in the blacklist instead of the whitelist. '
                    "Note that the pair\n\"dev.v.io:u:foo@google.com bar,baz,!bar\" is legal. "
                    "In such a case the blessing\nwill be added to both the blacklist and the "
                    "whitelist, with the blacklist\noverriding the whitelist.",
                    run=run_acl_add),
                Cmd("rm", "Remove specific permissions from the acl",
                    "Remove specific permissions from the acl.",
                    "(<blessing> <tag>(,<tag>)* )+",
                    'The args are sequential pairs of the form "<blessing> <taglist>" A '
                    "taglist is\nmade up of a series of comma-separated tags. rm removes all "
                    "references to each\n<blessing> from all of the tags.", run=run_acl_rm),
                Cmd("dump", "Pretty-print the whole acl", "Pretty-print the whole acl.",
                    run=run_acl_dump),
            ]),
        Cmd("watch", "Watch for updates to the database", "Watch for updates to the database.",
            "(<collection_blessing>,<collection_name>[,<row_key>] )*",
            "If no patterns are specified, watch defaults to watching for updates to any row\n"
            "of any collection.", run=run_watch),
        Cmd("destroy", "Destroy a specified collection", "Destroy a specified collection.",
            "<collection_blessing>,<collection_name>", run=run_destroy),
    ]
    root = Cmd(PROG, "Vanadium syncbase client and management utility",
               "Syncbase general-purpose client and management utility. Supports starting a\n"
               "syncQL shell and executing the commands at top level.",
               children=[sh] + commands)
    return root


async def _main(reactor, argv, out=None, err=None, stdin=None):
    state = State(out or sys.stdout, err or sys.stderr, stdin)
    state.root = root = _tree()
    state.fs = runtime.add_runtime_flags(runtime.FlagSet(PROG))
    # the runtime's flags may come at any level of the command line: resolve it
    # first (errors are reported by _run, Go's way), then start the runtime
    try:
        resolved = resolve(root, argv, state)
    except UsageError as e:
        resolved = e
    ctx, shutdown = v23py.init([], flags=state.fs, reactor=reactor)
    state.ctx = ctx
    try:
        return await _run(root, argv, state, resolved=resolved)
    finally:
        await shutdown()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if handle_version(PROG, argv):
        return
    runtime.run_program(_main, argv)


if __name__ == "__main__":
    main()
