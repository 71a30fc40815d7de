"""Fully quantized TFLite models (int8 / uint8 activations): converted to float32 graphs
between a dequantized input and a requantized output, run on the reference device and
compared with LiteRT.

The models are Keras models with random (seeded) weights, made full-integer by the TFLite
converter from 16 representative inputs (uniform [-1, 1)). Outputs have LiteRT's integer
type and are compared as dequantized values ``scale * (q - zero_point)``, in quantization
steps of the output (``max |ours - LiteRT| / scale``) and by cosine similarity:

* plain float32 (the default), on the calibration inputs: <= 3 steps, cosine >= 0.999.
  LiteRT rounds every activation to its int8 grid (half a step, zero mean), uses fixed-point
  multipliers and lookup tables (LOGISTIC, TANH); float32 skips those roundings, and the
  final requantization turns the accumulated difference into whole steps. Measured on the
  calibration inputs: MobileNetV2 (alpha 0.35, 96x96, int8 and uint8 interfaces) 1 step,
  cosine >= 0.99995; the conv model 1 step (>= 0.9998); the branchy model 2 steps
  (>= 0.9995: a one-step LOGISTIC table difference, doubled by the Mul it gates), over
  five weight seeds each. Inputs outside the calibrated ranges saturate inside LiteRT's
  kernels but not in float32 (the branchy model: up to 10 steps, cosine 0.9975 on
  full-range random inputs); that is what fake quantization emulates.
* fake quantization (QuantizeLinear -> DequantizeLinear after each op), on full-range
  random inputs: <= 2 steps, cosine >= 0.9995. Measured: MobileNetV2 and the conv model 0
  steps (identical outputs), the branchy model 2 steps (the LOGISTIC table again), cosine
  >= 0.9997.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from tf_helpers import heavy
from tf_helpers import mobilenet_v2 as shared_mobilenet_v2

from mace_core.dtypes import DType
from mace_core.errors import ConversionError
from mace_core.ir import Graph, QuantParams
from mace_core.model_format import load_graph, save_model
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes
from mace_core.specs import ConvertOptions

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = heavy("tensorflow")
heavy("ai_edge_litert")
keras = tf.keras
from mace_converters.tflite_frontend import convert_tflite  # noqa: E402
from mace_converters.tflite_frontend.loading import read_model  # noqa: E402
from mace_converters.tflite_frontend.runner import run_litert  # noqa: E402

CALIBRATION_SAMPLES = 16
PLAIN = {"max_steps": 3, "cosine_min": 0.999}
FAKE_QUANT = {"max_steps": 2, "cosine_min": 0.9995}
FLOAT_WARNING = r"int8 model: activations computed in float32 \(dequantized\)"


# -- models ----------------------------------------------------------------------------
def conv_net():
    """Conv, depthwise conv, ReLU/ReLU6, residual Add, pooling, Dense, Softmax."""
    x = inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.Add()([x, keras.layers.Conv2D(8, 1)(x)])
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Softmax()(keras.layers.Dense(10)(x))
    return keras.Model(inputs, x)


def branchy_net():
    """Concatenate, resize, sigmoid gating (Mul), average pooling, padding, reshape."""
    x = inputs = keras.Input((12, 12, 4))
    a = keras.layers.Conv2D(6, 3, padding="same")(x)
    b = keras.layers.AveragePooling2D(2)(keras.layers.Conv2D(6, 1)(x))
    b = keras.layers.UpSampling2D(2, interpolation="bilinear")(b)
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.Multiply()([x, keras.layers.Activation("sigmoid")(x)])
    x = keras.layers.ZeroPadding2D(1)(x)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Reshape((-1,))(x))


def mobilenet_v2():
    return shared_mobilenet_v2(keras)


def calibration_set(shape, count: int = CALIBRATION_SAMPLES) -> list[np.ndarray]:
    """The representative inputs: uniform [-1, 1), the same for every model of a shape."""
    rng = np.random.default_rng(1)
    return [rng.uniform(-1, 1, shape).astype(np.float32) for _ in range(count)]


def full_integer(model, path: Path, io: str, activations: str = "int8") -> Path:
    """``model`` as a full-integer TFLite file; ``io`` the interface type (int8, uint8,
    int16, or float32 for float inputs and outputs around the integer graph); int16
    ``activations`` with int8 weights is TFLite's 16x8 mode."""
    shape = (1, *model.input_shape[1:])
    inputs = keras.Input(shape[1:], batch_size=1)  # batch 1: static shapes throughout
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, model(inputs)))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x] for x in calibration_set(shape))
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if activations == "int8" else
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if io != "float32":
        converter.inference_input_type = getattr(tf, io)
        converter.inference_output_type = getattr(tf, io)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Full-integer files, made once: (model name, interface type) -> path."""
    root = tmp_path_factory.mktemp("int8")
    made = {}

    def get(name: str, io: str) -> Path:
        if (name, io) not in made:
            builder = {"conv": conv_net, "branchy": branchy_net, "mobilenet_v2": mobilenet_v2}
            keras.utils.set_random_seed(0)  # the same weights in every run
            made[name, io] = full_integer(builder[name](), root / f"{name}_{io}.tflite", io)
        return made[name, io]

    return get


# -- converting, running, comparing ----------------------------------------------------
def convert(path: Path, fake_quant: bool = False) -> Graph:
    registry = default_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = convert_tflite(path, ConvertOptions(), registry, fake_quant=fake_quant)
    graph.validate()
    infer_shapes(graph, registry)
    return graph


def calibrated_feeds(graph: Graph, sample: int) -> dict[str, np.ndarray]:
    """Calibration sample ``sample`` (quantized for integer inputs) for the one input."""
    (name,) = graph.inputs
    desc = graph.desc(name)
    x = calibration_set(desc.shape, sample + 1)[sample]
    if desc.quant is None or desc.dtype == DType.FLOAT32:
        return {name: x}
    info = np.iinfo(desc.dtype.numpy)
    q = np.rint(x / desc.quant.scale[0]) + desc.quant.zero_point[0]
    return {name: np.clip(q, info.min, info.max).astype(desc.dtype.numpy)}


def random_feeds(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """Integers over the input type's whole range (uniform [-1, 1) for float inputs)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in graph.inputs:
        desc = graph.desc(name)
        if desc.dtype == DType.FLOAT32:
            feeds[name] = rng.uniform(-1, 1, desc.shape).astype(np.float32)
        else:
            info = np.iinfo(desc.dtype.numpy)
            feeds[name] = rng.integers(info.min, info.max + 1, desc.shape,
                                       dtype=desc.dtype.numpy)
    return feeds


def dequantized(q: np.ndarray, quant: QuantParams) -> np.ndarray:
    return (q.astype(np.float64) - quant.zero_point[0]) * quant.scale[0]


def check_against_litert(path: Path, graph: Graph, max_steps: int, cosine_min: float,
                         feeds_of=calibrated_feeds, seeds=range(3)) -> list[tuple[float, float]]:
    """Run ours and LiteRT on ``feeds_of(graph, seed)``; (steps, cosine) per output and
    seed, asserted within the thresholds. Float outputs count steps of the quantized tensor
    they were dequantized from."""
    session = Model(graph).session(["reference"])
    found = []
    for seed in seeds:
        feeds = feeds_of(graph, seed)
        ours, ref = session.run(feeds), run_litert(path, feeds)
        assert set(ours) == set(ref)
        for name, expected in ref.items():
            got = ours[name]
            assert got.dtype == expected.dtype and got.shape == expected.shape
            quant = graph.desc(name).quant or graph.desc(graph.producers()[name].inputs[0]).quant
            a, b = (dequantized(got, quant), dequantized(expected, quant)) if \
                expected.dtype.kind in "iu" else (got.astype(np.float64), expected)
            steps = float(np.max(np.abs(a - b))) / quant.scale[0]
            cosine = float(a.ravel() @ b.ravel() / (np.linalg.norm(a) * np.linalg.norm(b)))
            assert steps <= max_steps + 1e-3 and cosine >= cosine_min, (
                f"{name} (seed {seed}): {steps:.2f} steps, cosine {cosine:.6f}")
            found.append((steps, cosine))
    return found


# -- tests -----------------------------------------------------------------------------
@pytest.mark.parametrize("io", ["int8", "uint8", "float32"])
@pytest.mark.parametrize("name", ["conv", "branchy"])
def test_small_models_match_litert(models, name, io):
    path = models(name, io)
    graph = convert(path)
    desc = graph.desc(graph.inputs[0])
    assert desc.dtype.value == io and graph.desc(graph.outputs[0]).dtype.value == io
    check_against_litert(path, graph, **PLAIN)
    check_against_litert(path, convert(path, fake_quant=True), feeds_of=random_feeds,
                         **FAKE_QUANT)


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_mobilenet_v2_matches_litert(models, io):
    path = models("mobilenet_v2", io)
    graph = convert(path)
    assert graph.desc(graph.inputs[0]).describe() == f"{io}[1, 96, 96, 3]"
    assert graph.desc(graph.outputs[0]).describe() == f"{io}[1, 1000]"
    ops = graph.op_types()
    assert ops["DequantizeLinear"] == 1 and ops["QuantizeLinear"] == 1 and ops["Conv"] == 52
    check_against_litert(path, graph, **PLAIN)
    faked = convert(path, fake_quant=True)
    assert faked.op_types()["QuantizeLinear"] > 60
    check_against_litert(path, faked, feeds_of=random_feeds, **FAKE_QUANT)


def test_interface_keeps_litert_types_and_quantization(models):
    path = models("conv", "uint8")
    tfl = read_model(path)
    tensors = tfl.subgraph.tensors
    graph = convert(path)
    for name, index in ((graph.inputs[0], tfl.subgraph.inputs[0]),
                        (graph.outputs[0], tfl.subgraph.outputs[0])):
        q = tensors[index].quantization
        desc = graph.desc(name)
        assert desc.dtype == DType.UINT8 and desc.quant == QuantParams(
            (float(q.scale[0]),), (int(q.zeroPoint[0]),))
    # the input is dequantized by a DequantizeLinear, the output made by a QuantizeLinear
    assert graph.nodes[0].op_type == "DequantizeLinear"
    assert graph.producers()[graph.outputs[0]].op_type == "QuantizeLinear"


def test_activation_and_weight_quantization_is_kept_in_descriptors(models):
    path = models("conv", "int8")
    tfl = read_model(path)
    activation_params = {
        (float(t.quantization.scale[0]), int(t.quantization.zeroPoint[0]))
        for t in tfl.subgraph.tensors
        if tfl.type_names[t.type] == "INT8" and tfl.buffer_bytes(t) is None}
    graph = convert(path)  # shape inference has run: the annotations survived it
    described = {(d.quant.scale[0], d.quant.zero_point[0]) for d in graph.tensors.values()
                 if d.quant is not None and d.quant.axis is None and d.dtype == DType.FLOAT32}
    assert activation_params <= described | {(graph.desc(graph.inputs[0]).quant.scale[0],
                                              graph.desc(graph.inputs[0]).quant.zero_point[0])}
    convs = [n for n in graph.nodes if n.op_type == "Conv"]
    assert len(convs) == 3
    for conv in convs:
        x, w, bias = (graph.desc(i) for i in conv.inputs)
        out_channels = w.shape[0]
        assert w.dtype == DType.FLOAT32 and w.quant.axis == 0
        assert len(w.quant.scale) == out_channels and set(w.quant.zero_point) == {0}
        # int32 bias: scale = input scale x weight scale, per output channel
        assert bias.dtype == DType.FLOAT32 and x.quant is not None
        np.testing.assert_allclose(bias.quant.scale,
                                   np.asarray(w.quant.scale) * x.quant.scale[0], rtol=1e-6)


def warnings_of(path: Path, fake_quant: bool) -> tuple[Graph, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = convert_tflite(path, ConvertOptions(), default_registry(),
                               fake_quant=fake_quant)
    return graph, [str(w.message) for w in caught]


def test_warning_and_metadata_say_float32(models):
    path = models("conv", "int8")
    graph, said = warnings_of(path, fake_quant=False)
    assert any(re.match(FLOAT_WARNING, m) for m in said), said
    assert any("weight tensor(s) were dequantized" in m for m in said)
    assert graph.metadata["quantization"] == "integer activations dequantized to float32"
    graph, said = warnings_of(path, fake_quant=True)
    assert any("fake quantization" in m for m in said), said
    assert graph.metadata["quantization"] == "integer activations fake-quantized in float32"


def test_model_format_round_trips_quantization(models, tmp_path):
    path = models("branchy", "int8")
    graph = convert(path)
    loaded = load_graph(save_model(graph, tmp_path / "branchy").pb)
    quantized = {n: d.quant for n, d in graph.tensors.items() if d.quant is not None}
    assert len(quantized) > 10
    assert {n: d.quant for n, d in loaded.tensors.items() if d.quant is not None} == quantized
    feeds = random_feeds(graph, 0)
    ours = Model(graph).session(["reference"]).run(feeds)
    again = Model(loaded).session(["reference"]).run(feeds)
    for name in graph.outputs:
        np.testing.assert_array_equal(ours[name], again[name])


def test_quantize_and_dequantize_ops_of_the_model_are_converted(models):
    """A uint8 interface makes the converter requantize (QUANTIZE uint8 <-> int8); float
    interfaces add QUANTIZE / DEQUANTIZE of run-time tensors."""
    for io in ("uint8", "float32"):
        tfl = read_model(models("conv", io))
        ops = {tfl.op_name(op) for op in tfl.subgraph.operators}
        assert "QUANTIZE" in ops and ("DEQUANTIZE" in ops or io == "uint8")


def test_int16_activations_convert_and_int16_interfaces_are_refused(tmp_path):
    """16x8 models: int16 activations compute in float32 too (steps of an int16 grid are
    tiny: measured 12 steps, cosine 0.999999); an int16 graph input has no mace type."""
    keras.utils.set_random_seed(0)
    path = full_integer(conv_net(), tmp_path / "int16.tflite", "float32", activations="int16")
    graph = convert(path)
    assert any(d.quant is not None for d in graph.tensors.values())
    check_against_litert(path, graph, max_steps=64, cosine_min=0.9999, feeds_of=random_feeds)
    keras.utils.set_random_seed(0)
    path = full_integer(conv_net(), tmp_path / "int16_io.tflite", "int16", activations="int16")
    with pytest.raises(ConversionError, match="quantized int16, which mace-core has no"):
        convert(path)


def test_a_float_input_can_be_asked_for(models):
    """``input_dtypes`` float32: the input takes real values (no DequantizeLinear)."""
    path = models("conv", "int8")
    registry = default_registry()
    name = convert(path).inputs[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = convert_tflite(path, ConvertOptions(input_dtypes={name: DType.FLOAT32}),
                               registry)
    infer_shapes(graph, registry)
    quant = graph.desc(name).quant
    assert graph.desc(name).dtype == DType.FLOAT32 and quant is not None
    assert "DequantizeLinear" not in graph.op_types()
    feeds = calibrated_feeds(convert(path), 0)
    ours = Model(graph).session(["reference"]).run({name: dequantized(feeds[name], quant)
                                                    .astype(np.float32)})
    ref = run_litert(path, feeds)
    for out, expected in ref.items():
        assert ours[out].dtype == np.int8
        assert np.max(np.abs(ours[out].astype(int) - expected)) <= PLAIN["max_steps"]


def test_cli_convert_and_validate_an_int8_model(models, tmp_path, capsys):
    """`mace validate` compares quantized outputs as real values, in quantization steps."""
    from mace_core.cli.main import main

    src = models("conv", "int8")
    assert main(["convert", str(src), "-o", str(tmp_path), "-q"]) == 0
    pb = tmp_path / f"{src.stem}.pb"
    assert main(["validate", str(src), str(pb), "--device", "reference"]) == 0
    out = capsys.readouterr().out
    assert "quantization steps" in out and "all 1 outputs match" in out
