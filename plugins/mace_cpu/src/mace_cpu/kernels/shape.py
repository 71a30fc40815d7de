"""Reshape-like ops on the cpu device: Flatten, Reshape, Squeeze, Unsqueeze.

They only relabel a C-contiguous buffer, so the kernel returns a view with the output
shape recorded by shape inference; keeping them on the cpu avoids a device switch (and a
partition boundary) in the middle of a CNN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from mace_core.ir import Graph, Node

from mace_cpu.fused import ALIAS, NativeStep, with_step
from mace_cpu.kernels.common import Prepared, kernel, prepared, shape

VIEW_OPS = ("Flatten", "Reshape", "Squeeze", "Unsqueeze")


def accepts_view(node: Node, graph: Graph) -> bool:
    if not node.outputs or node.outputs[0] not in graph.tensors:
        return False
    x, y = graph.tensors.get(node.inputs[0]), graph.tensors[node.outputs[0]]
    return x is not None and x.dtype == y.dtype and \
        math.prod(shape(graph, node.inputs[0])) == math.prod(shape(graph, node.outputs[0]))


def prepare_view(node: Node, attrs: dict[str, Any], graph: Graph,
                 options: dict[str, Any]) -> Prepared:
    out_shape = shape(graph, node.outputs[0])

    def run(inputs):
        return (np.ascontiguousarray(inputs[0]).reshape(out_shape),)

    return with_step(prepared(run, op=node.op_type, view=True), NativeStep(ALIAS, out_shape))


KERNELS = [kernel(op, prepare_view, accepts_view) for op in VIEW_OPS]
