"""Standard Vanadium VDL packages (v.io/v23/...) that have no other home in v23py.

Each subdirectory holds our own .vdl declaration of one Go package (wire names,
fields, field order, methods and tags as in Go v0.2.0), a ``vdlpy.config``
giving its Go package path, and the generated ``__init__.py``.
"""
