"""The globber tutorial's file server: a local directory tree as a server namespace."""
