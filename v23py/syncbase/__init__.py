"""The Syncbase client library (Go's ``v.io/v23/syncbase``, Pythonic)."""
