"""Helpers of the mace-cpu tests: one-node graphs, running them on cpu and reference, and
the pass rule.

Pass rule (every conformance test): ``max |ours - ref| <= 1e-5 * max |ref|``, i.e. an
error relative to the largest reference value of the output, with ref from the numpy
reference kernels of mace-core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from mace_core.dtypes import DType
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.runtime.session import Session
from mace_core.shape_inference import infer_shapes

import mace_cpu

REL_TOL = 1e-5


def supported_isas() -> list[str]:
    """The ISAs this CPU runs (none when the native module is not built)."""
    try:
        return mace_cpu.supported_isas()
    except mace_cpu.NativeUnavailable:
        return []


def assert_rel_close(ours: np.ndarray, ref: np.ndarray, rel: float = REL_TOL,
                     what: str = "output") -> None:
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != reference {ref.shape}"
    assert ours.dtype == ref.dtype, f"{what}: dtype {ours.dtype} != reference {ref.dtype}"
    finite = np.isfinite(ref)
    assert np.array_equal(np.isfinite(ours), finite), f"{what}: non-finite values differ"
    if not finite.any():
        return
    scale = float(np.abs(ref[finite]).max())
    err = float(np.abs(ours[finite].astype(np.float64) - ref[finite]).max())
    assert err <= rel * max(scale, 1e-30), (
        f"{what}: max abs error {err:.3e} > {rel:g} x max|ref| {scale:.3e} "
        f"(relative {err / max(scale, 1e-30):.2e})"
    )


def node_graph(op_type: str, inputs: Mapping[str, np.ndarray | None], *,
               constants: Sequence[str] = (), attrs: Mapping[str, Any] | None = None,
               outputs: int = 1) -> Graph:
    """A graph of one node. ``inputs`` in order (None: a missing optional input); names in
    ``constants`` become initializers, the others graph inputs."""
    g = Graph(f"one_{op_type}")
    names = []
    for name, value in inputs.items():
        if value is None:
            names.append("")
            continue
        names.append(name)
        if name in constants:
            g.add_constant(name, value)
        else:
            g.inputs.append(name)
            g.tensors[name] = TensorDesc(name, DType.from_numpy(value.dtype), value.shape)
    outs = [f"y{i}" for i in range(outputs)]
    g.outputs = outs
    g.nodes = [Node("node", op_type, names, outs, dict(attrs or {}))]
    infer_shapes(g, default_registry())
    return g


def feeds_of(graph: Graph, inputs: Mapping[str, np.ndarray | None]) -> dict[str, np.ndarray]:
    return {name: inputs[name] for name in graph.inputs}


def run_cpu_and_reference(graph: Graph, feeds: Mapping[str, np.ndarray], threads: int = 1
                          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], Session]:
    """Run on the cpu device alone (so every node must be accepted) and on reference."""
    session = Model(graph).session(["cpu"], cpu_threads=threads)
    ours = session.run(feeds)
    ref = Model(graph).session(["reference"]).run(feeds)
    return ours, ref, session


def check_node(op_type: str, inputs: Mapping[str, np.ndarray | None], *,
               constants: Sequence[str] = (), attrs: Mapping[str, Any] | None = None,
               threads: int = 1, rel: float = REL_TOL) -> Session:
    """One node on cpu vs reference with the pass rule; returns the cpu session."""
    graph = node_graph(op_type, inputs, constants=constants, attrs=attrs)
    ours, ref, session = run_cpu_and_reference(graph, feeds_of(graph, inputs), threads)
    for name in graph.outputs:
        assert_rel_close(ours[name], ref[name], rel, what=f"{op_type} {name}")
    return session


def placed_device(graph: Graph, devices: Sequence[str]) -> list[str]:
    """The device each node of ``graph`` is placed on for ``devices``."""
    session = Model(graph).session(list(devices))
    return [step.device for step in session.placement.steps]


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def i64(*values: int) -> np.ndarray:
    """An int64 array of ``values`` (shapes, axes, pads, indices as constants)."""
    return np.array(values, np.int64)
