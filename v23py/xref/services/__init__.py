"""Go's v.io/x/ref/services (see v23py.xref)."""
