"""mace-core: convert a model once, run it on whatever the device has.

    import mace_core
    model = mace_core.load("mobilenet.pb")
    session = model.session(devices=["cpu", "reference"])
    outputs = session.run({"input": array})
"""

from mace_core.dtypes import DType
from mace_core.errors import MaceError
from mace_core.ir import Graph, Layout, Node, QuantParams, TensorDesc
from mace_core.runtime.model import Model, load
from mace_core.runtime.session import Session

__version__ = "0.1.0"

__all__ = [
    "DType", "Graph", "Layout", "MaceError", "Model", "Node", "QuantParams", "Session",
    "TensorDesc", "__version__", "load",
]
