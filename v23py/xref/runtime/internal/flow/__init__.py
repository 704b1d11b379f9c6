"""Go's v.io/x/ref/runtime/internal/flow (see v23py.xref)."""
