"""Test helpers shared by mace-core and its plugins (loaded as a pytest plugin).

Fixtures:
    mace_registry   a fresh Registry built from the installed plugins
    tiny_cnn_onnx   path of a small real ONNX CNN (Conv/BN/Relu/Pool/Gemm/Softmax) made
                    with onnx.helper; skips with the reason when onnx is not installed

Helpers:
    run_reference(graph, feeds)        run a graph on the reference device
    assert_close(ours, ref, ...)       the fp32 pass rule of ``mace validate``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mace_core.compare import COSINE_MIN, REL_MAX, compare


def run_reference(graph, feeds, devices=("reference",)):
    from mace_core.runtime.model import Model

    return Model(graph).session(list(devices)).run(feeds)


def assert_close(ours, ref, *, name="output", cosine_min=COSINE_MIN, rel_max=REL_MAX):
    result = compare(name, ours, ref, cosine_min=cosine_min, rel_max=rel_max)
    assert result.ok, (
        f"{name}: max abs {result.max_abs:.3e}, rel {result.rel:.3e}, cosine "
        f"{result.cosine:.8f} {result.note}"
    )


@pytest.fixture
def mace_registry():
    from mace_core.plugins import get_plugin_manager
    from mace_core.registry import Registry

    return Registry(get_plugin_manager())


def make_tiny_cnn(path: Path, batch: int | str = 1, seed: int = 0) -> Path:
    """Write a small ONNX CNN: Conv+BN+Relu, depthwise Conv+Clip, MaxPool, GAP, Gemm, Softmax."""
    onnx = pytest.importorskip("onnx", reason="onnx is needed to build ONNX test models")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def const(name, shape, scale=0.3):
        arr = (rng.standard_normal(shape) * scale).astype(np.float32)
        return numpy_helper.from_array(arr, name)

    inits = [
        const("w1", (8, 3, 3, 3)), const("b1", (8,)),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "bn_scale"),
        const("bn_bias", (8,)), const("bn_mean", (8,), 0.1),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "bn_var"),
        const("w2", (8, 1, 3, 3)),
        const("fc_w", (10, 8)), const("fc_b", (10,)),
        numpy_helper.from_array(np.array(0.0, np.float32), "clip_min"),
        numpy_helper.from_array(np.array(6.0, np.float32), "clip_max"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1],
                         strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean",
                                                "bn_var"], ["bn1"], name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["bn1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="dwconv", group=8, pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c2", "clip_min", "clip_max"], ["r2"], name="relu6"),
        helper.make_node("MaxPool", ["r2"], ["p1"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p1"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def tiny_cnn_onnx(tmp_path) -> Path:
    return make_tiny_cnn(tmp_path / "tiny_cnn.onnx")
