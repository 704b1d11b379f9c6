"""Go's v.io/x/ref/runtime/internal (see v23py.xref)."""
