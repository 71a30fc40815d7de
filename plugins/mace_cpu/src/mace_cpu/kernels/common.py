"""Shared pieces of the cpu kernels: predicates, activation codes, buffers, status checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from mace_core.dtypes import DType
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node
from mace_core.specs import KernelSpec

from mace_cpu.native import load

DEVICE = "cpu"
PRIORITY = 10

# Fused activation name -> C enum mc_act_kind (see mace_core/ops/fused_activation.py).
ACTIVATIONS = {
    "": 0, "Relu": 1, "Clip": 2, "LeakyRelu": 3, "Sigmoid": 4, "Tanh": 5, "HardSigmoid": 6,
    "HardSwish": 7, "Swish": 8,
}
ACT_PARAMS = {"": 0, "Relu": 0, "Clip": 2, "LeakyRelu": 1, "Sigmoid": 0, "Tanh": 0,
              "HardSigmoid": 2, "HardSwish": 0, "Swish": 1}
STATUS = {-1: "out of memory", -2: "ISA not usable on this CPU", -3: "invalid arguments"}


def kernel(op_type: str, prepare: Callable, when: Callable[[Node, Graph], bool]) -> KernelSpec:
    """The KernelSpec of a cpu kernel (prepared, with a predicate, above the reference)."""
    return KernelSpec(op_type=op_type, device=DEVICE, prepare=prepare, when=when,
                      priority=PRIORITY, name=f"cpu:{op_type}")


# -- predicates ----------------------------------------------------------------------------
def all_f32(graph: Graph, names: Sequence[str]) -> bool:
    """Every named (present) tensor is float32 with a static, non-empty shape."""
    for name in names:
        if not name:
            continue
        desc = graph.tensors.get(name)
        if desc is None or desc.dtype != DType.FLOAT32:
            return False
        if any(not isinstance(d, (int, np.integer)) or d <= 0 for d in desc.shape):
            return False
    return True


def io_f32(node: Node, graph: Graph) -> bool:
    """Every input and output of ``node`` is float32 with a static, non-empty shape."""
    return all_f32(graph, [*node.inputs, *node.outputs])


def fused_ok(node: Node) -> bool:
    """The node's fused activation (if any) is one the C epilogue implements."""
    name = node.attrs.get("activation", "") or ""
    params = list(node.attrs.get("activation_params", ()) or ())
    return name in ACTIVATIONS and len(params) >= ACT_PARAMS[name]


def shape(graph: Graph, name: str) -> tuple[int, ...]:
    """The static shape of tensor ``name`` as plain ints."""
    return tuple(int(d) for d in graph.desc(name).shape)


# -- activation -----------------------------------------------------------------------------
def activation(attrs: dict[str, Any]) -> tuple[int, float, float]:
    """``(mc_act_kind, a, b)`` of a node's fused activation attributes."""
    name = attrs.get("activation", "") or ""
    params = [float(v) for v in attrs.get("activation_params", ()) or ()]
    params += [0.0] * (2 - len(params))
    return ACTIVATIONS[name], params[0], params[1]


# -- buffers ----------------------------------------------------------------------------------
def f32(x: Any) -> np.ndarray:
    """A C-contiguous float32 view (or copy) of ``x``."""
    return np.ascontiguousarray(x, dtype=np.float32)


def cin(a: np.ndarray) -> Any:
    """A ``float *`` to a C-contiguous float32 array (read by C)."""
    ffi, _ = load()
    return ffi.from_buffer("float[]", a)


def check(status: int, node: Node) -> None:
    """Raise a MaceError naming the node when a C kernel returned an error status."""
    if status != 0:
        raise MaceError(f"{node}: cpu kernel failed: {STATUS.get(status, status)}")


def from_buffer() -> Callable[..., Any]:
    """cffi's ``from_buffer`` (bound once per kernel: ``ptr("float[]", array)``)."""
    return load()[0].from_buffer


Prepared = Callable[[Sequence[Any]], Sequence[Any]]


def prepared(run: Callable[[Sequence[Any]], Sequence[Any]], **info: Any) -> Prepared:
    """The prepared kernel: ``run(inputs) -> outputs`` itself (the session calls it per op,
    so no wrapper), with what was chosen in ``run.info`` (for tests and profiles)."""
    run.info = info  # type: ignore[attr-defined]
    return run
