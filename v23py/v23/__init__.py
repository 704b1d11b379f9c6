"""Every standard Vanadium VDL package (``v.io/v23/...``), in one place, at Go's paths.

``v23py/v23/<p>`` is the Go package ``v.io/v23/<p>`` (``security``, ``security/access``,
``rpc``, ``naming``, ``uniqueid``, ``vtrace``, ``services/mounttable``, ...), and
``v23py/v23/vdlroot/<x>`` is Go's vdlroot package ``<x>`` (``signature``, ``time``).
Each directory holds our own .vdl declaration of that package (wire names, fields,
field order, methods and tags as in Go v0.2.0) and the ``__init__.py`` our ``vdl``
compiler generates from it (``vdl generate --lang python ./v23py/v23/...``); the only
hand-written module is ``vdlroot/time/native.py`` (time conversions, as Go keeps them).
The implementations that use these types live in the packages of the same names one
level up (``v23py.security``, ``v23py.rpc``, ...).
"""
