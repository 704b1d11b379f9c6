"""Go's v.io/x/ref/runtime (see v23py.xref)."""
