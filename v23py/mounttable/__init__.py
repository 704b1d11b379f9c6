"""The mount table: ``core`` holds Go's mounttablelib semantics without any I/O (a tree
of names, mounts with TTLs, permissions, glob), ``server`` its RPC face (the
``mounttabled`` tool serves it)."""
