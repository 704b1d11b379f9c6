"""The ``v.io/x/ref/...`` VDL packages the library itself speaks, at Go's paths.

``v23py/xref/<p>`` is the Go package ``v.io/x/ref/<p>``: the blessings-flow messages of
a connection (``runtime/internal/flow/conn``) with the ciphertexts they may carry
(``lib/security/bcrypter``), and the files of a credentials directory
(``lib/security``, ``lib/security/serialization``).  Each holds our own .vdl
declaration of the types (Go's names, fields and order) and the generated
``__init__.py``.  (The Syncbase daemon's peer package lives with the daemon:
``syncbased/interfaces``.)
"""
