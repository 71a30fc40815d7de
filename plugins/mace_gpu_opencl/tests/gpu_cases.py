"""Building one-node graphs and comparing the GPU with the reference device."""

from __future__ import annotations

import zlib
from typing import Any

import attrs
import numpy as np

from mace_core.compare import COSINE_MIN, REL_MAX, compare
from mace_core.dtypes import DType
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes

# (gpu_storage, gpu_fp16_storage)
MODES = [("image", False), ("image", True), ("buffer", False), ("buffer", True)]
MODE_IDS = ["image-fp32", "image-fp16", "buffer-fp32", "buffer-fp16"]

# fp16 storage rounds the inputs, the filters and the output to half once each (unit
# roundoff 2^-11 = 4.9e-4 of each value); arithmetic stays fp32. Three roundings bound the
# error by ~1.5e-3 of the largest magnitude involved; the generated inputs are N(0, 1) and
# the outputs of similar scale (clipped ones up to 2x smaller), hence 3e-3 of max |ref|.
# Measured over all cases: at most 1.4e-3 (grouped conv + Tanh, clipped broadcast Add).
FP16_REL_MAX = 3e-3
FP16_COSINE_MIN = 0.9999


@attrs.frozen
class Case:
    """One op on generated inputs: ``inputs`` items are a shape (a graph input filled with
    random values), an ndarray (a constant) or None (a missing optional input)."""

    id: str
    op: str
    inputs: list[Any]
    attrs: dict[str, Any] = attrs.field(factory=dict)
    low: float | None = None  # inputs uniform in [low, high) instead of normal
    high: float = 1.0


def build(case: Case) -> tuple[Graph, dict[str, np.ndarray]]:
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    graph = Graph(case.id, outputs=["y"])
    names, feeds = [], {}
    for i, item in enumerate(case.inputs):
        if item is None:
            names.append("")
        elif isinstance(item, np.ndarray):
            names.append(graph.add_constant(f"c{i}", item))
        else:
            name = f"x{i}"
            shape = tuple(item)
            graph.inputs.append(name)
            graph.tensors[name] = TensorDesc(name, DType.FLOAT32, shape)
            if case.low is None:
                feeds[name] = rng.standard_normal(shape).astype(np.float32)
            else:
                feeds[name] = rng.uniform(case.low, case.high, shape).astype(np.float32)
            names.append(name)
    graph.nodes = [Node("node", case.op, names, ["y"], dict(case.attrs))]
    infer_shapes(graph, default_registry())
    return graph, feeds


def run_case(case: Case, storage: str, half: bool, **options: Any):
    """(gpu output, reference output, session) for a case."""
    graph, feeds = build(case)
    ref = Model(graph).session(["reference"]).run(feeds)["y"]
    session = Model(graph).session(["gpu"], gpu_storage=storage, gpu_fp16_storage=half,
                                   **options)
    assert [s.device for s in session.placement.steps] == ["gpu"], session.placement
    return session.run(feeds)["y"], ref, session


def check(ours: np.ndarray, ref: np.ndarray, half: bool, name: str = "y") -> None:
    rel, cosine = (FP16_REL_MAX, FP16_COSINE_MIN) if half else (REL_MAX, COSINE_MIN)
    result = compare(name, ours, ref, cosine_min=cosine, rel_max=rel)
    assert result.ok, (f"{name}: max abs {result.max_abs:.3e}, rel {result.rel:.3e} "
                       f"(limit {rel}), cosine {result.cosine:.8f} {result.note}")


def rand(*shape: int, seed: int = 0, scale: float = 0.5) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def traced(gpu, session, feeds) -> tuple[dict[str, np.ndarray], list[Any]]:
    """One run with every launch recorded: (its outputs, the runtime's LaunchRecords)."""
    gpu.trace = []
    try:
        out = session.run(feeds)
        gpu.finish()
        return out, gpu.trace
    finally:
        gpu.trace = None


def traced_kernels(gpu, session, feeds) -> list[str]:
    """The kernels one run launches, in order."""
    return [r.name for r in traced(gpu, session, feeds)[1]]
