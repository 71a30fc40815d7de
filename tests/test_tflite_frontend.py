"""The TFLite frontend: small TF graphs per builtin op, converted by the TFLite converter,
then by our frontend, run on the reference device and compared with the LiteRT interpreter."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from tf_helpers import heavy, mobilenet_v2

from mace_core.compare import compare
from mace_core.errors import ConversionError, UnsupportedOpError
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes
from mace_core.specs import ConvertOptions

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = heavy("tensorflow")
heavy("ai_edge_litert")
from mace_converters.tflite_frontend import convert_tflite  # noqa: E402
from mace_converters.tflite_frontend.loading import read_model  # noqa: E402
from mace_converters.tflite_frontend.runner import run_litert  # noqa: E402
from mace_converters.tflite_plugin import sniff  # noqa: E402

RNG = np.random.default_rng(7)


def const(*shape, scale=0.5) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def to_tflite(fn, shapes, path: Path, configure=None) -> Path:
    specs = [tf.TensorSpec(s, tf.float32) for s in shapes]
    concrete = tf.function(fn).get_concrete_function(*specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    if configure is not None:
        configure(converter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_bytes(converter.convert())
    return path


def ops_of(path: Path) -> set[str]:
    tfl = read_model(path)
    return {tfl.op_name(op) for op in tfl.subgraph.operators}


def convert_and_check(path: Path, seed: int = 0):
    """Convert, infer shapes, run on the reference device; compare with LiteRT (fp32 rule)."""
    registry = default_registry()
    graph = convert_tflite(path, ConvertOptions(), registry)
    graph.validate()
    infer_shapes(graph, registry)
    session = Model(graph).session(["reference"])
    feeds = session.random_inputs(seed)
    ours = session.run(feeds)
    ref = run_litert(path, feeds)
    assert set(ours) == set(ref)
    for name, expected in ref.items():
        result = compare(name, ours[name], expected)
        assert result.ok, result
    return graph


W33 = const(3, 3, 4, 6)
DW = const(3, 3, 4, 2)
B6 = const(6)
B8 = const(8)
FC = const(12, 5)
TW = const(3, 3, 3, 4)
CASES = {
    "CONV_2D": ([(1, 9, 9, 4)], lambda x: tf.nn.relu(
        tf.nn.conv2d(x, W33, 1, "SAME") + B6)),
    "CONV_2D strided valid dilated": ([(1, 11, 10, 4)], lambda x: tf.nn.conv2d(
        x, W33, [1, 2, 2, 1], "VALID") + B6),
    "CONV_2D dilated": ([(1, 11, 10, 4)], lambda x: tf.nn.conv2d(
        x, W33, 1, "SAME", dilations=2)),
    "DEPTHWISE_CONV_2D": ([(1, 9, 8, 4)], lambda x: tf.nn.relu6(
        tf.nn.depthwise_conv2d(x, DW, [1, 2, 2, 1], "SAME") + B8)),
    "TRANSPOSE_CONV": ([(1, 5, 5, 4)], lambda x: tf.nn.conv2d_transpose(
        x, TW, [1, 10, 10, 3], 2, "SAME")),
    "FULLY_CONNECTED": ([(2, 12)], lambda x: tf.tanh(tf.matmul(x, FC) + const(5))),
    "ADD MUL SUB DIV": ([(1, 5, 6, 3), (1, 5, 6, 3)], lambda x, y: (
        x * const(3) - y / (y * y + 1.0) + tf.nn.conv2d(x, const(1, 1, 3, 3), 1, "SAME"))),
    "AVERAGE_POOL_2D": ([(1, 9, 9, 3)], lambda x: tf.nn.avg_pool2d(x, 3, 2, "SAME")),
    "MAX_POOL_2D": ([(1, 9, 9, 3)], lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID")),
    "MEAN": ([(1, 6, 7, 5)], lambda x: tf.reduce_mean(
        tf.nn.conv2d(x, const(1, 1, 5, 5), 1, "SAME"), [1, 2])),
    "RESHAPE SOFTMAX": ([(1, 4, 4, 3)], lambda x: tf.nn.softmax(
        tf.reshape(tf.nn.conv2d(x, const(1, 1, 3, 3), 1, "SAME"), [1, 48]) * 2.0)),
    "LOGISTIC TANH RELU": ([(1, 4, 4, 3)], lambda x: tf.sigmoid(x) + tf.tanh(x * 2.0)
                           + tf.nn.relu(x)),
    "RELU6 HARD_SWISH": ([(1, 4, 4, 3)], lambda x: tf.nn.relu6(x)
                         + x * 4.0 * tf.nn.relu6(x * 4.0 + 3.0) / 6.0),
    "PAD CONCATENATION": ([(1, 5, 5, 2)], lambda x: tf.concat([
        tf.pad(tf.nn.conv2d(x, const(1, 1, 2, 3), 1, "SAME"), [[0, 0], [1, 2], [0, 1], [0, 0]]),
        tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]])], axis=3)),
    "RESIZE_BILINEAR half_pixel": ([(1, 5, 7, 3)], lambda x: tf.image.resize(
        tf.nn.conv2d(x, const(1, 1, 3, 3), 1, "SAME"), [9, 12], "bilinear")),
    "RESIZE_BILINEAR align_corners": ([(1, 5, 7, 3)], lambda x: tf.compat.v1.image.
                                      resize_bilinear(x, [9, 12], align_corners=True)),
    "RESIZE_NEAREST_NEIGHBOR": ([(1, 5, 7, 3)], lambda x: tf.image.resize(
        x, [11, 9], "nearest")),
    "RESIZE_NEAREST_NEIGHBOR align_corners": ([(1, 5, 7, 3)], lambda x: tf.compat.v1.image.
                                              resize_nearest_neighbor(x, [9, 12],
                                                                      align_corners=True)),
    "TRANSPOSE": ([(1, 4, 5, 3)], lambda x: tf.transpose(
        tf.nn.conv2d(x, const(1, 1, 3, 3), 1, "SAME"), [0, 2, 1, 3]) * 2.0),
    "STRIDED_SLICE": ([(1, 8, 7, 4)], lambda x: tf.nn.conv2d(
        x, const(1, 1, 4, 4), 1, "SAME")[:, 1:7:2, ::-1, 2]),
    "SPLIT PACK": ([(1, 4, 6, 4)], lambda x: tf.stack(tf.split(x, 2, axis=3), axis=1) + 1.0),
    "DEPTH_TO_SPACE": ([(1, 3, 3, 8)], lambda x: tf.nn.depth_to_space(x * 2.0, 2)),
    "MIRROR_PAD": ([(1, 5, 5, 2)], lambda x: tf.pad(x, [[0, 0], [2, 1], [1, 2], [0, 0]],
                                                     "REFLECT")),
}
EXPECTED_OPS = {"ADD MUL SUB DIV": {"ADD", "MUL", "SUB", "DIV"}, "RESHAPE SOFTMAX":
                {"RESHAPE", "SOFTMAX"}, "LOGISTIC TANH RELU": {"LOGISTIC", "TANH", "RELU"},
                "RELU6 HARD_SWISH": {"RELU6", "HARD_SWISH"}, "PAD CONCATENATION":
                {"PAD", "CONCATENATION"}, "SPLIT PACK": {"SPLIT", "PACK"}}


@pytest.mark.parametrize("case", sorted(CASES))
def test_builtin_op_matches_litert(case, tmp_path):
    shapes, fn = CASES[case]
    path = to_tflite(fn, shapes, tmp_path / "model.tflite")
    expected = EXPECTED_OPS.get(case, {case.split()[0]})
    assert expected <= ops_of(path), f"the TFLite converter did not emit {expected}"
    convert_and_check(path)


def test_inputs_and_outputs_keep_tflite_names_and_nhwc_shapes(tmp_path):
    path = to_tflite(lambda x: tf.nn.conv2d(x, W33, 1, "SAME"), [(1, 9, 9, 4)],
                     tmp_path / "conv.tflite")
    graph = convert_and_check(path)
    tfl = read_model(path)
    names = [t.name.decode() for t in tfl.subgraph.tensors]
    assert graph.inputs == [names[i] for i in tfl.subgraph.inputs]
    assert graph.outputs == [names[i] for i in tfl.subgraph.outputs]
    assert graph.desc(graph.inputs[0]).shape == (1, 9, 9, 4)
    assert graph.desc(graph.outputs[0]).shape == (1, 9, 9, 6)
    assert graph.op_types() == {"Conv": 1, "Transpose": 2}
    assert sniff(path) and not sniff(Path(__file__))


def test_float16_weights_are_dequantized_at_load(tmp_path):
    def fp16(converter):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]

    path = to_tflite(lambda x: tf.nn.relu(tf.nn.conv2d(x, W33, 1, "SAME") + B6),
                     [(1, 6, 6, 4)], tmp_path / "fp16.tflite", fp16)
    assert "DEQUANTIZE" in ops_of(path)
    graph = convert_and_check(path)
    assert all(v.dtype == np.float32 for v in graph.constants.values() if v.dtype.kind == "f")


def test_weight_only_int8_is_dequantized_with_a_warning(tmp_path):
    weights = const(64, 48)

    def dynamic_range(converter):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

    path = to_tflite(lambda x: tf.matmul(x, weights), [(2, 64)], tmp_path / "int8.tflite",
                     dynamic_range)
    with pytest.warns(UserWarning, match="dequantized to float32"):
        graph = convert_tflite(path, ConvertOptions(), default_registry())
    quantized = [d for d in graph.tensors.values() if d.quant is not None]
    assert quantized and quantized[0].dtype.value == "float32"


def rewrite(path: Path, target: Path, edit) -> Path:
    """Save a copy of the model at ``path`` after ``edit(tfl)`` changed its object tree."""
    import flatbuffers

    tfl = read_model(path)
    edit(tfl)
    builder = flatbuffers.Builder(1024)
    builder.Finish(tfl.model.Pack(builder), file_identifier=b"TFL3")
    target.write_bytes(bytes(builder.Output()))
    return target


def test_squeeze_matches_litert(tmp_path):
    """The TFLite converter emits RESHAPE for squeezes: make a SQUEEZE out of one."""
    path = to_tflite(lambda x: tf.reshape(x * 2.0, [1, 6, 3]), [(1, 1, 6, 3)],
                     tmp_path / "reshape.tflite")

    def to_squeeze(tfl):
        schema = tfl.schema
        for op in tfl.subgraph.operators:
            code = tfl.model.operatorCodes[op.opcodeIndex]
            if tfl.op_name(op) == "RESHAPE":
                code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.SQUEEZE
                op.inputs = op.inputs[:1]
                op.builtinOptionsType = schema.BuiltinOptions.SqueezeOptions
                op.builtinOptions = schema.SqueezeOptionsT()
                op.builtinOptions.squeezeDims = [1]

    squeezed = rewrite(path, tmp_path / "squeeze.tflite", to_squeeze)
    assert "SQUEEZE" in ops_of(squeezed)
    convert_and_check(squeezed)


def test_custom_op_is_named_in_the_error(tmp_path):
    def to_custom(tfl):
        code = tfl.model.operatorCodes[0]
        code.builtinCode = code.deprecatedBuiltinCode = tfl.schema.BuiltinOperator.CUSTOM
        code.customCode = "MyFancyOp"

    path = to_tflite(lambda x: tf.nn.relu(x), [(1, 4)], tmp_path / "relu.tflite")
    custom = rewrite(path, tmp_path / "custom.tflite", to_custom)
    with pytest.raises(UnsupportedOpError, match="CUSTOM:MyFancyOp"):
        convert_tflite(custom, ConvertOptions(), default_registry())


def test_not_a_tflite_file_is_refused(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ConversionError, match="TFL3"):
        convert_tflite(bad, ConvertOptions(), default_registry())


def test_keras_mobilenet_v2_matches_litert(tmp_path):
    keras = heavy("keras")
    model = mobilenet_v2(keras)
    path = to_tflite(lambda x: model(x, training=False), [(1, 96, 96, 3)],
                     tmp_path / "mobilenet_v2.tflite")
    graph = convert_and_check(path, seed=3)
    assert graph.op_types()["Transpose"] == 1  # only the input is transposed
