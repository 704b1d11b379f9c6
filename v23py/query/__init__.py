"""syncQL, Syncbase's query language (Go's ``v.io/v23/query``), sans-IO::

    from v23py import query
    headers, rows = query.exec_query(datasource, "select k, v.Name from Customer "
                                     "where Type(v) like \\"%.Customer\\" and k like ?", ["00%"])

The pieces: ``scanner`` (Go's text/scanner tokens), ``parser`` (AST),
``checker`` (semantic checks, LIKE compilation, early function execution and
the key ranges a where clause allows), ``functions`` (the built-ins),
``engine`` (evaluation, projection, select/delete), ``pattern`` (LIKE
patterns) and ``errors`` (Go's syncql error ids; messages ``[offset]text``).
"""
from v23py.query.engine import exec_query, prepare, run  # noqa: F401
from v23py.query.errors import split_error, QueryError  # noqa: F401
from v23py.query.checker import key_ranges  # noqa: F401

__all__ = ["exec_query", "prepare", "run", "split_error", "QueryError", "key_ranges"]
