"""fortune.ifc: the tutorial's Fortune interface (VDL package "fortune/ifc").

The code is generated from ``ifc/fortune.vdl`` into the top-level ``ifc``
package; this module re-exports it under the tutorial's import path.
"""
from ifc import (  # noqa: F401
    FortuneClient, FortuneClientStub, FortuneDesc, FortuneServer, FortuneServerMethods,
    FortuneServerStub)

Fortune_desc = FortuneDesc
