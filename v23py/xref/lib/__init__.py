"""Go's v.io/x/ref/lib (see v23py.xref)."""
