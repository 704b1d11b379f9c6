"""The VDL compiler: .vdl source -> checked packages -> Python modules.

Layers (each usable on its own):

* :mod:`.lexer`   -- tokens with Go-style automatic semicolons and doc comments.
* :mod:`.parser`  -- recursive-descent parser producing the AST in :mod:`.ast`.
* :mod:`.checker` -- resolves imports, types, constants, errors and interfaces
  into ``v23py.vdl.Type`` objects and typed constant values.
* :mod:`.codegen` -- writes one Python module per package.
* :mod:`.runtime` -- the small support library that generated modules import
  (interface/method descriptions, client and server stub bases).

Importing this package is cheap: it does not import the parser.
"""
