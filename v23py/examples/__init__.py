"""Example programs installed with v23py: the tutorials' servers and clients.

They are programs, not library: nothing else in ``v23py`` imports them.
``v23py.examples.hello`` is the hello-world tutorial's program (console
scripts ``hello-server`` and ``hello-client``).
"""
