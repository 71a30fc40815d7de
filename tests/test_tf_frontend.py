"""The TensorFlow frontend: small frozen graphs per op (NHWC and NCHW), Keras and SavedModel
sources, converted, run on the reference device and compared with TensorFlow itself."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from tf_helpers import heavy, mobilenet_v2

from mace_core.compare import compare
from mace_core.errors import ConversionError, UnsupportedOpError
from mace_core.passes.constant_folding import fold_and_infer
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes
from mace_core.specs import ConvertOptions

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = heavy("tensorflow")
from mace_converters.tf_frontend import convert_tf, convert_tf_graph  # noqa: E402
from mace_converters.tf_frontend.loading import load_tf  # noqa: E402
from mace_converters.tf_frontend.runner import run_tensorflow  # noqa: E402
from mace_converters.tf_plugin import sniff  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
RNG = np.random.default_rng(11)


def const(*shape, scale=0.5) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def freeze(fn, shapes, path: Path) -> Path:
    """A frozen GraphDef of ``fn`` with inputs x0, x1... of the given shapes."""
    specs = [tf.TensorSpec(s, tf.float32, name=f"x{i}") for i, s in enumerate(shapes)]
    concrete = convert_variables_to_constants_v2(tf.function(fn).get_concrete_function(*specs))
    path.write_bytes(concrete.graph.as_graph_def().SerializeToString())
    return path


def check(graph, path: Path, seed: int = 0) -> None:
    """Run ``graph`` on the reference device and compare with TensorFlow (fp32 rule)."""
    registry = default_registry()
    graph.validate()
    infer_shapes(graph, registry)
    session = Model(graph).session(["reference"])
    feeds = session.random_inputs(seed)
    ours = session.run(feeds)
    ref = run_tensorflow(path, feeds)
    assert set(ours) == set(ref)
    for name, expected in ref.items():
        result = compare(name, ours[name], expected)
        assert result.ok, result


def convert(path: Path, **shapes):
    return convert_tf(path, ConvertOptions(input_shapes=shapes), default_registry())


def nchw_block(x):
    y = tf.nn.conv2d(x, const(3, 3, 4, 6), 1, "SAME", data_format="NCHW")
    y = tf.nn.bias_add(y, const(6), data_format="NCHW")
    y = tf.compat.v1.nn.fused_batch_norm(y, const(6) + 1, const(6), const(6), const(6) ** 2 + 1,
                                         is_training=False, data_format="NCHW")[0]
    y = tf.nn.max_pool2d(tf.nn.relu(y), 2, 2, "VALID", data_format="NCHW")
    return tf.nn.avg_pool2d(y, 3, 1, "SAME", data_format="NCHW")


CASES = {
    "Conv2D BiasAdd Relu": ([(1, 9, 9, 4)], lambda x: tf.nn.relu(
        tf.nn.bias_add(tf.nn.conv2d(x, const(3, 3, 4, 6), 1, "SAME"), const(6)))),
    "Conv2D strided": ([(1, 11, 10, 4)], lambda x: tf.nn.conv2d(
        x, const(3, 2, 4, 5), [1, 2, 3, 1], "VALID")),
    "Conv2D dilated": ([(1, 11, 10, 4)], lambda x: tf.nn.conv2d(
        x, const(3, 3, 4, 5), 1, "SAME", dilations=2)),
    "Conv2D explicit padding": ([(1, 8, 8, 3)], lambda x: tf.nn.conv2d(
        x, const(3, 3, 3, 4), 2, [[0, 0], [1, 2], [2, 0], [0, 0]])),
    "Conv2D grouped": ([(1, 6, 6, 4)], lambda x: tf.nn.conv2d(x, const(3, 3, 2, 6), 1, "SAME")),
    "DepthwiseConv2dNative Relu6": ([(1, 9, 8, 4)], lambda x: tf.nn.relu6(
        tf.nn.depthwise_conv2d(x, const(3, 3, 4, 2), [1, 2, 2, 1], "SAME") * 4.0)),
    "Conv2DBackpropInput": ([(1, 5, 5, 4)], lambda x: tf.nn.conv2d_transpose(
        x, const(3, 3, 3, 4), [1, 10, 10, 3], 2, "SAME")),
    "Conv2DBackpropInput valid": ([(1, 4, 5, 4)], lambda x: tf.nn.conv2d_transpose(
        x, const(2, 3, 3, 4), [1, 9, 11, 3], 2, "VALID")),
    "FusedBatchNormV3": ([(1, 5, 5, 3)], lambda x: tf.compat.v1.nn.fused_batch_norm(
        x, const(3) + 1, const(3), const(3), const(3) ** 2 + 0.5, is_training=False)[0]),
    "NCHW Conv2D BiasAdd FusedBatchNormV3 pools": ([(1, 4, 9, 9)], nchw_block),
    "MatMul": ([(2, 12)], lambda x: tf.matmul(x, const(5, 12), transpose_b=True) + const(5)),
    "BatchMatMulV2": ([(2, 3, 4), (2, 4, 5)], lambda x, y: tf.matmul(x, y)),
    "AddV2 Mul Sub RealDiv": ([(1, 5, 6, 3), (1, 5, 6, 3)], lambda x, y: (
        x * const(3) - y / (y * y + 1.0) + tf.nn.conv2d(x, const(1, 1, 3, 3), 1, "SAME"))),
    "AvgPool MaxPool": ([(1, 9, 9, 3)], lambda x: tf.nn.avg_pool2d(x, 3, 2, "SAME")
                        + tf.nn.max_pool2d(x, 3, 2, "SAME")),
    "Mean": ([(1, 6, 7, 5)], lambda x: tf.reduce_mean(
        tf.nn.conv2d(x, const(1, 1, 5, 5), 1, "SAME"), [1, 2], keepdims=True)),
    "Reshape Softmax": ([(1, 4, 4, 3)], lambda x: tf.nn.softmax(
        tf.reshape(tf.nn.conv2d(x, const(1, 1, 3, 3), 1, "SAME"), [1, 48]))),
    "Squeeze Sigmoid Tanh": ([(1, 1, 6, 3)], lambda x: tf.sigmoid(tf.squeeze(x, [1]))
                             + tf.tanh(x[0])),
    "Pad ConcatV2": ([(1, 5, 5, 2)], lambda x: tf.concat([
        tf.pad(tf.nn.conv2d(x, const(1, 1, 2, 3), 1, "SAME"), [[0, 0], [1, 2], [0, 1], [0, 0]]),
        tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]], constant_values=0.5)], axis=3)),
    "StridedSlice": ([(1, 8, 7, 4)], lambda x: tf.nn.conv2d(
        x, const(1, 1, 4, 4), 1, "SAME")[:, 1:7:2, ::-1, 2]),
    "StridedSlice ellipsis new axis": ([(2, 5, 6, 3)], lambda x: tf.nn.conv2d(
        x, const(1, 1, 3, 3), 1, "SAME")[..., tf.newaxis, 1:, 0:2]),
    "Transpose": ([(1, 4, 5, 3)], lambda x: tf.transpose(
        tf.nn.conv2d(x, const(1, 1, 3, 3), 1, "SAME"), [0, 3, 1, 2])),
    "ResizeBilinear": ([(1, 5, 7, 3)], lambda x: tf.image.resize(x, [9, 12], "bilinear")),
    "ResizeBilinear align_corners": ([(1, 5, 7, 3)], lambda x: tf.compat.v1.image.
                                     resize_bilinear(x, [9, 12], align_corners=True)),
    "ResizeBilinear legacy": ([(1, 5, 7, 3)], lambda x: tf.compat.v1.image.
                              resize_bilinear(x, [9, 12])),
    "ResizeNearestNeighbor": ([(1, 5, 7, 3)], lambda x: tf.image.resize(x, [11, 9], "nearest")),
    "ResizeNearestNeighbor align_corners": ([(1, 5, 7, 3)], lambda x: tf.compat.v1.image.
                                            resize_nearest_neighbor(x, [9, 12],
                                                                    align_corners=True)),
    "ResizeNearestNeighbor legacy": ([(1, 5, 7, 3)], lambda x: tf.compat.v1.image.
                                     resize_nearest_neighbor(x, [9, 13])),
    "Split Pack Identity": ([(1, 4, 6, 4)], lambda x: tf.identity(
        tf.stack(tf.split(x, 2, axis=3), axis=1))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_tensorflow(case, tmp_path):
    shapes, fn = CASES[case]
    path = freeze(fn, shapes, tmp_path / "model.pb")
    graph = convert(path)
    for op in case.split():
        if op[0].isupper() and op != "NCHW":
            types = {o.type for o in load_tf(path, {}, fold=False).graph.get_operations()}
            assert op in types, f"TensorFlow did not emit {op}: {sorted(types)}"
    check(graph, path)


def test_shape_subgraphs_convert_without_grappler(tmp_path):
    """Shape -> StridedSlice -> Pack -> Reshape, converted as is (folded by mace-core)."""
    path = freeze(lambda x: tf.reshape(x, tf.stack([tf.shape(x)[0], -1])) * 2.0,
                  [(None, 3, 4, 5)], tmp_path / "shape.pb")
    loaded = load_tf(path, {"x0": (2, 3, 4, 5)}, fold=False)
    types = {op.type for op in loaded.graph.get_operations()}
    assert {"Shape", "StridedSlice", "Pack", "Reshape"} <= types
    graph = convert_tf_graph(loaded, "shape")
    fold_and_infer(graph, default_registry())  # what mace_core.pipeline.import_model runs
    assert "Shape" not in graph.op_types()
    check(graph, path)


def test_dynamic_input_needs_a_static_shape(tmp_path):
    path = freeze(lambda x: tf.nn.relu(x), [(None, None, None, 3)], tmp_path / "dynamic.pb")
    with pytest.raises(ConversionError, match="--input-shape x0="):
        convert(path)
    graph = convert(path, x0=(2, 5, 4, 3))
    assert graph.inputs == ["x0"]
    assert graph.desc("x0").shape == (2, 5, 4, 3)
    check(graph, path)


def test_unsupported_op_is_named(tmp_path):
    path = freeze(lambda x: tf.math.cumsum(x, axis=1), [(2, 5)], tmp_path / "cumsum.pb")
    with pytest.raises(UnsupportedOpError, match="Cumsum"):
        convert(path)


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory) -> dict[str, Path]:
    """MobileNetV2 (alpha 0.35, 96x96, random weights) as .keras, .h5 and SavedModel."""
    keras = heavy("keras")
    model = mobilenet_v2(keras)
    folder = tmp_path_factory.mktemp("mobilenet")
    paths = {"keras": folder / "mnv2.keras", "h5": folder / "mnv2.h5",
             "saved_model": folder / "mnv2_saved_model"}
    model.save(paths["keras"])
    model.save(paths["h5"])
    model.export(str(paths["saved_model"]), verbose=False)
    return paths


@pytest.mark.parametrize("form", ["keras", "h5", "saved_model"])
def test_keras_mobilenet_v2_matches_tensorflow(mobilenet, form):
    path = mobilenet[form]
    graph = convert(path)
    assert graph.desc(graph.inputs[0]).shape == (1, 96, 96, 3)
    assert graph.op_types()["Transpose"] == 1  # only the input is transposed
    check(graph, path, seed=5)
    assert sniff(path) == (form != "h5")
