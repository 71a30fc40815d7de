"""The cpu kernels' output arena: slots shared by tensors that are never live together,
model outputs never in it, and memory seen through a view kept alive as long as the view."""

from __future__ import annotations

import numpy as np
from mace_core.dtypes import DType
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes

from mace_cpu.arena import arena_for

from cpu_helpers import assert_rel_close, randn


def chain(n: int, seed: int = 0, extra: list[Node] | None = None,
          consts: dict[str, np.ndarray] | None = None) -> Graph:
    """x -> n 1x1 convs of 8 channels (ReLU) -> y, plus ``extra`` nodes and ``consts``."""
    rng = np.random.default_rng(seed)
    g = Graph("chain", inputs=["x"], outputs=["y"])
    for name, value in (consts or {}).items():
        g.add_constant(name, value)
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (1, 8, 6, 6))
    prev = "x"
    for i in range(n):
        g.add_constant(f"w{i}", randn(rng, 8, 8, 1, 1, scale=0.4))
        out = "y" if i == n - 1 and not extra else f"c{i}"
        g.nodes.append(Node(f"conv{i}", "Conv", [prev, f"w{i}"], [out], {"activation": "Relu"}))
        prev = out
    g.nodes += extra or []
    infer_shapes(g, default_registry())
    return g


def run_both(graph: Graph, x: np.ndarray, devices=("cpu",)) -> tuple[dict, dict]:
    ours = Model(graph).session(list(devices), cpu_threads=1).run({"x": x})
    ref = Model(graph).session(["reference"]).run({"x": x})
    return ours, ref


def test_dead_tensors_share_slots():
    graph = chain(6)
    session = Model(graph).session(["cpu"], cpu_threads=1)
    x = randn(np.random.default_rng(1), 1, 8, 6, 6)
    ref = Model(graph).session(["reference"]).run({"x": x})
    assert_rel_close(session.run({"x": x})["y"], ref["y"])
    arena = arena_for(graph, session.options)
    one = 8 * 6 * 6 * 4
    assert 0 < arena.nbytes <= 3 * one + 64 * 4  # 5 intermediates in 2 slots (+ alignment)


def test_outputs_survive_the_next_run():
    graph = chain(3)
    session = Model(graph).session(["cpu"], cpu_threads=1)
    rng = np.random.default_rng(2)
    x1, x2 = randn(rng, 1, 8, 6, 6), randn(rng, 1, 8, 6, 6)
    first = session.run({"x": x1})["y"]
    kept = first.copy()
    second = session.run({"x": x2})["y"]
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)


def test_memory_seen_through_a_reference_view_stays_alive():
    """c0 is read last by Identity, whose output (on the reference device: the same array)
    is read after conv_b writes its own output: conv_b must not get c0's slot."""
    rng = np.random.default_rng(3)
    extra = [
        Node("view", "Identity", ["c0"], ["v"]),
        Node("conv_b", "Conv", ["x", "wb"], ["b"], {"activation": "Relu"}),
        Node("sum", "Add", ["v", "b"], ["y"]),
    ]
    graph = chain(1, extra=extra, consts={"wb": randn(rng, 8, 8, 1, 1)})
    x = randn(rng, 1, 8, 6, 6)
    session = Model(graph).session(["cpu", "reference"], cpu_threads=1)
    assert [s.device for s in session.placement.steps] == ["cpu", "reference", "cpu", "cpu"]
    ours = session.run({"x": x})
    ref = Model(graph).session(["reference"]).run({"x": x})
    assert_rel_close(ours["y"], ref["y"])


def test_sessions_of_one_model_have_their_own_arenas():
    graph = chain(4)
    model = Model(graph)
    s1, s2 = (model.session(["cpu"], cpu_threads=1) for _ in range(2))
    rng = np.random.default_rng(4)
    x1, x2 = randn(rng, 1, 8, 6, 6), randn(rng, 1, 8, 6, 6)
    y1, y2 = s1.run({"x": x1})["y"], s2.run({"x": x2})["y"]
    assert_rel_close(s1.run({"x": x1})["y"], y1)
    assert_rel_close(s2.run({"x": x2})["y"], y2)
    assert arena_for(graph, s1.options) is not arena_for(graph, s2.options)
