"""Binary elementwise ops with numpy broadcasting: Add, Sub, Mul, Div, ..."""

from __future__ import annotations

import numpy as np

from mace_core.ops import OpDef
from mace_core.schema import OpSchema, broadcast


def _binary(op_type: str, fn, doc: str) -> OpDef:
    def reference(a, b):
        return np.asarray(fn(a, b)).astype(a.dtype)

    reference.__name__ = op_type.lower()
    return OpDef(OpSchema(op_type, broadcast(0), num_inputs=(2, 2), doc=doc), reference)


OPS = [
    _binary("Add", np.add, "a + b"),
    _binary("Sub", np.subtract, "a - b"),
    _binary("Mul", np.multiply, "a * b"),
]
