"""Opset adaptation: the few attribute changes schemas cannot infer from the node alone.

Most opset differences (axes as attribute or input, Clip bounds, Slice-1 attributes, ...)
are absorbed by the op schemas accepting both forms, so nodes pass through verbatim. What is
left needs the model's opset number, which only the frontend knows.
"""

from __future__ import annotations

from typing import Any

from mace_core.ir import Node

# Before opset 13 these ops flatten the input to 2-D at ``axis`` (default 1) and normalise
# each row; from 13 on they work along one axis (default -1).
_SOFTMAX_LIKE = frozenset({"Softmax", "LogSoftmax", "Hardmax"})


def adapt_attrs(node: Node, opset: int) -> dict[str, Any]:
    """The attributes of ``node`` (default domain), rewritten for ``opset`` where needed."""
    attrs, op_type = node.attrs, node.op_type
    if node.domain != "":
        return attrs
    if op_type in _SOFTMAX_LIKE:
        attrs = dict(attrs)
        if opset < 13:
            attrs["legacy_2d"] = 1
            attrs.setdefault("axis", 1)
        else:
            attrs.setdefault("axis", -1)
    elif op_type == "Split" and opset < 18:
        # Before opset 18, a Split without split sizes cuts into as many equal parts as it
        # has outputs; from 18 on that count is the num_outputs attribute.
        has_sizes = "split" in attrs or (len(node.inputs) > 1 and node.inputs[1])
        if not has_sizes:
            attrs = {**attrs, "num_outputs": len(node.outputs)}
    return attrs
