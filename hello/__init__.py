"""The hello-world tutorial's programs: hello-server and hello-client.

``hello/ifc/hello.vdl`` is the tutorial's interface (VDL package "hello/ifc",
generated into ``hello/ifc/__init__.py``), ``hello.service`` its one-method
service, ``hello.server`` and ``hello.client`` the two console scripts.
"""
