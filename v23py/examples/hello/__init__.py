"""The hello-world tutorial's programs: hello-server and hello-client.

``ifc/hello.vdl`` is the tutorial's interface (VDL package "hello/ifc",
generated into ``ifc/__init__.py``), ``service`` its one-method service,
``server`` and ``client`` the two console scripts.  Installed inside v23py
(not as a top-level ``hello``) so that it cannot shadow a user's own package.
"""
