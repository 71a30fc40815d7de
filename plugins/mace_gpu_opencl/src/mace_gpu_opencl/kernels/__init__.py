"""The GPU kernels, one module per op family (``cl/<family>.cl`` beside each).

Importing this package imports no pyopencl: prepare functions reach the device only when
a session is built.
"""

from __future__ import annotations

import importlib

from mace_core.ir import Graph, Node
from mace_core.specs import KernelSpec

MODULES = ("conv", "conv_transpose", "pooling", "eltwise", "layout", "axes", "reduce", "gemm",
           "resize")


def all_kernels() -> list[KernelSpec]:
    kernels: list[KernelSpec] = []
    for name in MODULES:
        kernels.extend(importlib.import_module(f"mace_gpu_opencl.kernels.{name}").KERNELS)
    return kernels


_BY_OP: dict[tuple[str, str], list[KernelSpec]] = {}


def gpu_accepts(node: Node, graph: Graph) -> bool:
    """Whether some GPU kernel takes this node (what placement would check)."""
    if not _BY_OP:
        for spec in all_kernels():
            _BY_OP.setdefault(spec.key, []).append(spec)
    return any(spec.accepts(node, graph) for spec in _BY_OP.get(node.op_key, []))
