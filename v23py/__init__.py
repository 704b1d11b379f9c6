"""v23py: Vanadium in Python on Twisted, wire-compatible with Go Vanadium."""
