"""Whole small CNNs on ["cpu", "reference"]: every compute op lands on the cpu (no
reference fallback) and the outputs match the reference device (rel 1e-5 of max |ref|)."""

from __future__ import annotations

import numpy as np
import pytest
from mace_core.dtypes import DType
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes

from cpu_helpers import assert_rel_close, randn

CPU_OPS = {"Conv", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm",
           "Add", "Mul", "Softmax", "Flatten", "HardSwish"}


def mobilenet_like(seed: int = 0) -> Graph:
    """Stem conv, inverted residual (1x1 expand, depthwise, 1x1 project, Add), squeeze-excite
    style Mul, pools, GAP, Flatten, Gemm, Softmax."""
    rng = np.random.default_rng(seed)
    g = Graph("mobilenet_like", inputs=["x"], outputs=["probs", "features"])
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (1, 3, 32, 32))

    def const(name, *shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        g.add_constant(name, randn(rng, *shape, scale=scale or 1 / np.sqrt(fan_in)))
        return name

    relu6 = {"activation": "Clip", "activation_params": [0.0, 6.0]}
    g.nodes = [
        Node("stem", "Conv", ["x", const("w0", 16, 3, 3, 3), const("b0", 16, scale=0.1)], ["c0"],
             {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
        Node("stem_relu", "Relu", ["c0"], ["r0"]),
        Node("expand", "Conv", ["r0", const("w1", 48, 16, 1, 1), const("b1", 48, scale=0.1)],
             ["c1"], dict(relu6)),
        Node("dw", "Conv", ["c1", const("w2", 48, 1, 3, 3), const("b2", 48, scale=0.1)], ["c2"],
             {"group": 48, "pads": [1, 1, 1, 1], **relu6}),
        Node("project", "Conv", ["c2", const("w3", 16, 48, 1, 1)], ["c3"]),
        Node("residual", "Add", ["c3", "r0"], ["a0"]),
        Node("pool", "MaxPool", ["a0"], ["p0"], {"kernel_shape": [2, 2], "strides": [2, 2]}),
        Node("conv", "Conv", ["p0", const("w4", 32, 16, 3, 3), const("b4", 32, scale=0.1)],
             ["c4"], {"pads": [1, 1, 1, 1], "activation": "HardSwish"}),
        Node("avg", "AveragePool", ["c4"], ["p1"], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
        Node("se_pool", "GlobalAveragePool", ["p1"], ["s0"]),
        Node("se_fc", "Conv", ["s0", const("w5", 32, 32, 1, 1), const("b5", 32, scale=0.1)],
             ["s1"], {"activation": "Sigmoid"}),
        Node("se_scale", "Mul", ["p1", "s1"], ["m0"]),
        Node("dw_s2", "Conv", ["m0", const("w6", 32, 1, 3, 3)], ["c5"],
             {"group": 32, "pads": [1, 1, 1, 1], "strides": [2, 2], "activation": "Relu"}),
        Node("gap", "GlobalAveragePool", ["c5"], ["features"]),
        Node("flatten", "Flatten", ["features"], ["flat"], {"axis": 1}),
        Node("fc", "Gemm", ["flat", const("fc_w", 10, 32), const("fc_b", 10, scale=0.1)],
             ["logits"], {"transB": 1}),
        Node("softmax", "Softmax", ["logits"], ["probs"], {"axis": -1}),
    ]
    infer_shapes(g, default_registry())
    return g


def assert_on_cpu(session) -> None:
    fallbacks = [(s.node.name, s.node.op_type) for s in session.placement.steps
                 if s.device != "cpu" and s.node.op_type in CPU_OPS]
    assert not fallbacks, f"ran on the reference device: {fallbacks}"


def test_mobilenet_like_graph_runs_on_cpu(isa, threads):
    graph = mobilenet_like()
    session = Model(graph).session(["cpu", "reference"], cpu_threads=threads)
    assert_on_cpu(session)
    assert session.placement.transfers == 0
    ref_session = Model(graph).session(["reference"])
    for seed in range(2):
        feeds = {"x": randn(np.random.default_rng(seed + 10), 1, 3, 32, 32)}
        ours, ref = session.run(feeds), ref_session.run(feeds)
        for name in graph.outputs:
            assert_rel_close(ours[name], ref[name], what=name)


def test_repeated_runs_give_identical_results():
    session = Model(mobilenet_like()).session(["cpu"], cpu_threads=2)
    feeds = {"x": randn(np.random.default_rng(0), 1, 3, 32, 32)}
    first = session.run(feeds)
    for _ in range(3):
        again = session.run(feeds)
        for name, value in first.items():
            np.testing.assert_array_equal(again[name], value)


def test_thread_count_does_not_change_results():
    """Work is split along M / N / planes only, never along K, so every thread count gives
    bit-identical outputs; 50 runs on 3 and 4 threads also exercise the pool hand-off."""
    graph = mobilenet_like(seed=4)
    feeds = {"x": randn(np.random.default_rng(4), 1, 3, 32, 32)}
    serial = Model(graph).session(["cpu"], cpu_threads=1).run(feeds)
    for count in (3, 4):
        session = Model(graph).session(["cpu"], cpu_threads=count)
        for _ in range(25):
            out = session.run(feeds)
            for name, value in serial.items():
                np.testing.assert_array_equal(out[name], value)


def test_tiny_onnx_cnn_through_the_frontend(tmp_path, isa):
    from mace_core.pipeline import import_model, optimize
    from mace_core.specs import ConvertOptions
    from mace_core.testing import make_tiny_cnn

    path = make_tiny_cnn(tmp_path / "tiny_cnn.onnx", batch=2)
    try:
        graph = import_model(path, ConvertOptions())
    except MaceError as exc:
        pytest.skip(f"the ONNX frontend cannot import the tiny CNN yet: {exc}")
    optimize(graph)
    session = Model(graph).session(["cpu", "reference"], cpu_threads=2)
    assert_on_cpu(session)
    feeds = session.random_inputs(seed=1)
    ours = session.run(feeds)
    ref = Model(graph).session(["reference"]).run(feeds)
    for name in graph.outputs:
        assert_rel_close(ours[name], ref[name], what=name)
    ort = pytest.importorskip("onnxruntime")
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, feeds)
    assert_rel_close(ours[graph.outputs[0]], expected[0], rel=1e-4, what="vs onnxruntime")
