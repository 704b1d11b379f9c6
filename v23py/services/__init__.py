"""Service implementations the runtime serves itself (Go's debuglib): ``debug`` serves
``__debug`` (stats, logs, vtrace, pprof) for every server."""
