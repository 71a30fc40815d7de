"""The cpu kernels of the ops the zoo models used to run on the reference device:
comparisons, Where, Gather, Pow, PRelu, Pad (reflect / edge / wrap), DepthToSpace /
SpaceToDepth, Conv 1-D and LSTM, against the reference kernels on generated shapes,
broadcasts and dtypes (every ISA, 1 / 2 threads), and what each declines; then the zoo
models that needed them, on ["cpu", "reference"] with no op left on the reference device,
matching their source framework (the entry's thresholds: cosine >= 0.99999 by default).

Pass rule of the op tests: bool and integer outputs equal; float ones
max |ours - ref| <= 1e-5 * max |ref| (cpu_helpers), NaN where the reference has NaN.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from mace_core.errors import MaceError
from mace_core.runtime.model import Model

from cpu_helpers import (
    assert_rel_close,
    check_node,
    feeds_of,
    i64,
    node_graph,
    placed_device,
    randn,
    run_cpu_and_reference,
)


def check_exact(op: str, inputs: dict, *, constants=(), attrs=None, threads: int = 1) -> None:
    """One node on cpu alone vs reference; outputs must be equal (bool / integer / copies)."""
    graph = node_graph(op, inputs, constants=constants, attrs=attrs)
    ours, ref, _ = run_cpu_and_reference(graph, feeds_of(graph, inputs), threads)
    for name in graph.outputs:
        assert ours[name].dtype == ref[name].dtype and ours[name].shape == ref[name].shape
        np.testing.assert_array_equal(ours[name], ref[name], err_msg=f"{op} {name}")


def on_reference(op: str, inputs: dict, **kw) -> bool:
    return placed_device(node_graph(op, inputs, **kw), ["cpu", "reference"]) == ["reference"]


def levels(rng, *shape: int) -> np.ndarray:
    """Values from a few levels (so that == holds often), with a NaN and infinities."""
    x = rng.choice(np.array([-2, -1, 0, 0.5, 1, np.inf, -np.inf, np.nan], np.float32), shape)
    return x.astype(np.float32)


BROADCASTS = [((2, 3, 4), (2, 3, 4)), ((1, 8, 5, 5), (1, 8, 1, 1)), ((1, 1, 1), ()),
              ((3, 1, 5), (1, 4, 1)), ((2, 1, 3, 1, 4), (5, 3, 6, 1)), ((7,), (1,))]


# -- comparisons, Where --------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"])
@pytest.mark.parametrize("a_shape, b_shape", BROADCASTS)
def test_compare(op, a_shape, b_shape, isa, threads):
    rng = np.random.default_rng(len(a_shape) * 7 + len(b_shape))
    a, b = levels(rng, *a_shape), levels(rng, *b_shape)
    check_exact(op, {"a": a, "b": b}, threads=threads)
    check_exact(op, {"a": b, "b": a}, threads=threads)  # the broadcast operand first
    check_exact(op, {"a": a, "b": b}, constants=("b",), threads=threads)


def test_compare_declines_integers():
    assert on_reference("Equal", {"a": i64(1, 2, 3), "b": i64(3, 2, 1)})


@pytest.mark.parametrize("c_shape, x_shape, y_shape", [
    ((2, 3, 4), (2, 3, 4), (2, 3, 4)), ((1, 1, 1), (), (1, 172, 30)),
    ((3, 1, 5), (1, 4, 1), (5,)), ((1, 6, 1, 1), (2, 6, 3, 3), ()), ((4, 1), (1, 9), (4, 9)),
])
def test_where(c_shape, x_shape, y_shape, isa, threads):
    rng = np.random.default_rng(sum(c_shape))
    inputs = {"c": rng.random(c_shape) < 0.5, "x": randn(rng, *x_shape), "y": randn(rng, *y_shape)}
    check_exact("Where", inputs, threads=threads)
    check_exact("Where", inputs, constants=("x",), threads=threads)


def test_where_declines_integers():
    assert on_reference("Where", {"c": np.array([True, False]), "x": i64(1, 2), "y": i64(3, 4)})


# -- Gather --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, axis, idx", [
    ((2, 1, 128), 0, np.array(1)), ((5, 7), 1, i64(6, -7, 0, 3)), ((4, 3, 6), -1, i64(-1)),
    ((9, 2, 3), 0, np.array([[0, 8], [-9, 4]], np.int32)), ((3, 5, 2, 4), 2, i64(1, 1, 0)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_gather(shape, axis, idx, dtype, isa, threads):
    x = (np.random.default_rng(3).standard_normal(shape) * 4).astype(dtype)
    # a 0-d index only as a constant: the session feeds 0-d inputs as 1-d arrays
    for constants in (("i",), ()) if idx.ndim else (("i",),):
        check_exact("Gather", {"x": x, "i": idx}, constants=constants, attrs={"axis": axis},
                    threads=threads)


def test_gather_index_out_of_range_at_run_time_is_an_error():
    x, idx = randn(np.random.default_rng(0), 4, 3), i64(0, 4)
    graph = node_graph("Gather", {"x": x, "i": idx})
    session = Model(graph).session(["cpu"])
    with pytest.raises(MaceError, match="invalid arguments"):
        session.run({"x": x, "i": idx})


# -- Pow, PRelu ----------------------------------------------------------------------------------
@pytest.mark.parametrize("exponent", [2.0, 0.5, 1.0, -1.0, 3.0, 1.7, 0.0])
def test_pow_constant_scalar_exponent(exponent, isa, threads):
    x = randn(np.random.default_rng(4), 1, 129, 40, scale=3.0)
    x.reshape(-1)[:4] = [0.0, -0.0, np.inf, -np.inf]
    check_node("Pow", {"x": x, "e": np.array(exponent, np.float32)}, constants=("e",),
               threads=threads)


@pytest.mark.parametrize("x_shape, e_shape", BROADCASTS)
def test_pow_broadcast(x_shape, e_shape, isa, threads):
    rng = np.random.default_rng(5)
    x = np.abs(randn(rng, *x_shape)) + 0.1
    e = randn(rng, *e_shape)
    check_node("Pow", {"x": x, "e": e}, threads=threads)
    check_node("Pow", {"x": -x, "e": np.round(e * 3)}, threads=threads)  # negative bases


def test_pow_integer_exponent():
    x = randn(np.random.default_rng(6), 3, 8)
    check_node("Pow", {"x": x, "e": i64(3)}, constants=("e",))
    check_node("Pow", {"x": x, "e": np.array([[2], [3], [-1]], np.int32)}, constants=("e",))
    assert on_reference("Pow", {"x": x, "e": i64(3)})  # an integer exponent given at run time
    assert on_reference("Pow", {"x": x, "e": np.array(2 ** 25 + 1, np.int64)}, constants=("e",))
    assert on_reference("Pow", {"x": i64(2, 3), "e": i64(2)}, constants=("e",))


@pytest.mark.parametrize("x_shape, s_shape", [
    ((1, 32, 24, 24), (32, 1, 1)), ((2, 5, 7), (1,)), ((3, 4, 5), (3, 4, 5)),
    ((1, 16, 9, 9), (1, 16, 1, 1)), ((6, 10), (10,)),
])
def test_prelu(x_shape, s_shape, isa, threads):
    rng = np.random.default_rng(7)
    inputs = {"x": randn(rng, *x_shape), "s": randn(rng, *s_shape, scale=0.3)}
    check_exact("PRelu", inputs, constants=("s",), threads=threads)
    check_exact("PRelu", inputs, threads=threads)


def test_prelu_declines_a_slope_of_two_runs():
    rng = np.random.default_rng(0)
    assert on_reference("PRelu", {"x": randn(rng, 2, 3, 4, 5), "s": randn(rng, 3, 1, 5)},
                        constants=("s",))


# -- Pad (reflect, edge, wrap), DepthToSpace, SpaceToDepth ---------------------------------------
@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
@pytest.mark.parametrize("shape, pads", [
    ((1, 576), (0, 0, 0, 64)), ((1, 1, 300), (0, 0, 128, 0, 0, 128)),
    ((1, 171, 1), (0, 128, 0, 0, 128, 0)), ((2, 3, 5, 6), (0, 1, 2, 3, 0, 2, 4, 5)),
    ((7,), (6, 2)), ((3, 9), (-1, 2, 1, -3)),  # negative pads crop first
])
def test_pad_modes(mode, shape, pads, isa, threads):
    x = randn(np.random.default_rng(8), *shape)
    check_exact("Pad", {"x": x, "pads": i64(*pads)}, constants=("pads",), attrs={"mode": mode},
                threads=threads)


def test_pad_modes_with_axes_and_attributes():
    x = randn(np.random.default_rng(9), 2, 4, 6)
    check_exact("Pad", {"x": x, "pads": i64(2, 3, 1, 2), "v": None, "axes": i64(-1, 1)},
                constants=("pads", "axes"), attrs={"mode": "reflect"})
    check_exact("Pad", {"x": x}, attrs={"mode": "edge", "pads": [0, 1, 2, 1, 0, 0]})


@pytest.mark.parametrize("mode, pads", [("reflect", (4, 0)), ("wrap", (0, 5))])
def test_pad_wider_than_numpy_wraps_once_goes_to_reference(mode, pads):
    x = randn(np.random.default_rng(0), 4)
    assert on_reference("Pad", {"x": x, "pads": i64(*pads)}, constants=("pads",),
                        attrs={"mode": mode})


@pytest.mark.parametrize("op", ["DepthToSpace", "SpaceToDepth"])
@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("shape, block", [((1, 4, 24, 24), 2), ((2, 18, 6, 9), 3),
                                          ((1, 1152, 8, 4), 2)])
def test_depth_space(op, mode, shape, block, isa, threads):
    x = randn(np.random.default_rng(10), *shape)
    check_exact(op, {"x": x}, attrs={"blocksize": block, "mode": mode}, threads=threads)


def test_depth_space_declines_integers():
    assert on_reference("DepthToSpace", {"x": np.zeros((1, 4, 2, 2), np.int64)},
                        attrs={"blocksize": 2})


# -- Conv 1-D ------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((1, 1, 640), (258, 1, 256), {"strides": [128]}),
    ((1, 129, 4), (128, 129, 3), {"pads": [1, 1], "activation": "Relu"}),
    ((2, 6, 33), (9, 2, 5), {"group": 3, "strides": [2], "dilations": [2], "pads": [3, 1]}),
    ((1, 8, 20), (8, 1, 3), {"group": 8, "auto_pad": "SAME_UPPER", "activation": "Sigmoid"}),
    ((1, 64, 1), (1, 64, 1), {}),
])
def test_conv_1d(x_shape, w_shape, attrs, isa, threads):
    rng = np.random.default_rng(11)
    inputs = {"x": randn(rng, *x_shape), "w": randn(rng, *w_shape, scale=0.2),
              "b": randn(rng, w_shape[0])}
    check_node("Conv", inputs, constants=("w", "b"), threads=threads,
               attrs={"kernel_shape": [w_shape[2]], **attrs})


@pytest.mark.parametrize("x_shape, w_shape, attrs, bias", [
    ((1, 1, 1, 2000), (36, 1, 1, 256), {"strides": [1, 16]}, True),
    ((2, 1, 1, 300), (12, 1, 1, 31), {"strides": [1, 3], "pads": [0, 7, 0, 9],
                                      "dilations": [1, 2], "activation": "Relu"}, False),
    ((1, 1, 100), (8, 1, 9), {"auto_pad": "SAME_UPPER", "strides": [2]}, True),
    ((3, 1, 50), (16, 1, 5), {"pads": [4, 0], "activation": "Sigmoid"}, True),
    ((1, 1, 1, 64), (4, 1, 1, 8), {}, True),   # few filters: the general plan
    ((1, 2, 1, 64), (16, 2, 1, 8), {}, True),  # two input channels: the general plan
    # a top pad: the one output row reads padding (bias only), the general plan
    ((1, 1, 1, 3), (8, 1, 1, 1), {"strides": [3, 3], "pads": [1, 1, 1, 1]}, True),
])
def test_filterbank_conv(x_shape, w_shape, attrs, bias, isa, threads):
    """One input channel, one row, many filters: frames times the packed filter bank."""
    rng = np.random.default_rng(13)
    inputs = {"x": randn(rng, *x_shape), "w": randn(rng, *w_shape, scale=0.2),
              "b": randn(rng, w_shape[0]) if bias else None}
    session = check_node("Conv", inputs, constants=("w", "b"), threads=threads,
                         attrs={"kernel_shape": list(w_shape[2:]), **attrs})
    top_pad = attrs.get("pads", [0])[0] if len(x_shape) == 4 else 0
    framed = w_shape[0] >= 8 and x_shape[1] == 1 and top_pad == 0
    assert (session._runners[0].info["algo"] == "filterbank") == framed


# -- LSTM ----------------------------------------------------------------------------------------
def lstm_inputs(seq: int, batch: int, size: int, hidden: int, dirs: int, layout: int,
                peep: bool, bias: bool = True, states: bool = True, seed: int = 12) -> dict:
    rng = np.random.default_rng(seed)
    x = (batch, seq, size) if layout else (seq, batch, size)
    state = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    return {"x": randn(rng, *x), "w": randn(rng, dirs, 4 * hidden, size, scale=0.4),
            "r": randn(rng, dirs, 4 * hidden, hidden, scale=0.4),
            "b": randn(rng, dirs, 8 * hidden, scale=0.3) if bias else None, "lens": None,
            "h0": randn(rng, *state) if states else None,
            "c0": randn(rng, *state) if states else None,
            "p": randn(rng, dirs, 3 * hidden, scale=0.5) if peep else None}


LSTM_CASES = {
    "silero": (1, 1, 128, 128, "forward", 0, {}),
    "seq5_batch3": (5, 3, 7, 16, "forward", 0, {}),
    "reverse_layout1": (4, 2, 6, 9, "reverse", 1, {}),
    "bidirectional": (3, 2, 5, 8, "bidirectional", 0, {}),
    "bidirectional_layout1": (6, 1, 4, 20, "bidirectional", 1, {"peep": True}),
    "clip_input_forget": (4, 2, 3, 5, "forward", 0, {"clip": 0.7, "input_forget": 1}),
    "peep_no_bias_no_states": (3, 17, 8, 12, "forward", 0,
                               {"peep": True, "bias": False, "states": False}),
}
LSTM_CONSTANTS = ("w", "r", "b", "lens", "p")


@pytest.mark.parametrize("case", list(LSTM_CASES))
def test_lstm(case, isa, threads):
    seq, batch, size, hidden, direction, layout, extra = LSTM_CASES[case]
    dirs = 2 if direction == "bidirectional" else 1
    inputs = lstm_inputs(seq, batch, size, hidden, dirs, layout, extra.get("peep", False),
                         extra.get("bias", True), extra.get("states", True))
    attrs = {"hidden_size": hidden, "direction": direction, "layout": layout,
             **{k: v for k, v in extra.items() if k in ("clip", "input_forget")}}
    graph = node_graph("LSTM", inputs, constants=LSTM_CONSTANTS, attrs=attrs, outputs=3)
    ours, ref, _ = run_cpu_and_reference(graph, feeds_of(graph, inputs), threads)
    for name in graph.outputs:
        assert_rel_close(ours[name], ref[name], what=f"LSTM {case} {name}")


def test_lstm_with_absent_outputs_and_full_sequence_lens(isa):
    inputs = lstm_inputs(4, 3, 5, 6, 1, 0, False)
    inputs["lens"] = np.full(3, 4, np.int32)
    graph = node_graph("LSTM", inputs, constants=LSTM_CONSTANTS, attrs={"hidden_size": 6},
                       outputs=3)
    node = graph.nodes[0]
    for kept in (["", "y1"], ["y0", "", "y2"]):  # Y_h only; Y and Y_c
        node.outputs = list(kept)
        graph.outputs = [n for n in kept if n]
        ours, ref, _ = run_cpu_and_reference(graph, feeds_of(graph, inputs))
        for name in graph.outputs:
            assert_rel_close(ours[name], ref[name], what=f"LSTM {name}")


def test_lstm_declines_what_it_does_not_take():
    short = lstm_inputs(4, 3, 5, 6, 1, 0, False)
    short["lens"] = np.array([4, 2, 4], np.int32)  # shorter sequences: masking
    assert on_reference("LSTM", short, constants=LSTM_CONSTANTS, attrs={"hidden_size": 6})
    plain = lstm_inputs(2, 1, 3, 4, 1, 0, False)
    assert on_reference("LSTM", plain, constants=LSTM_CONSTANTS,
                        attrs={"hidden_size": 4, "activations": ["Sigmoid", "Relu", "Tanh"]})
    assert on_reference("LSTM", plain, constants=("r", "b"), attrs={"hidden_size": 4})


# -- through the arena ---------------------------------------------------------------------------
def test_bool_and_integer_tensors_in_the_arena(threads):
    """Intermediate bool (Less) and int64 (Gather) tensors get byte slots of the arena, next
    to float ones; two runs give the reference's outputs (slots are rewritten per run)."""
    from mace_core.dtypes import DType
    from mace_core.ir import Graph, Node, TensorDesc
    from mace_core.registry import default_registry
    from mace_core.shape_inference import infer_shapes

    from mace_cpu.arena import arena_for

    g = Graph("select_chain", inputs=["x", "k"], outputs=["y", "n"])
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (1, 6, 5, 7))
    g.tensors["k"] = TensorDesc("k", DType.INT64, (4, 9))
    g.add_constant("zero", np.zeros((6, 1, 1), np.float32))
    g.add_constant("two", np.array(2.0, np.float32))
    g.add_constant("slope", np.full((6, 1, 1), 0.25, np.float32))
    g.add_constant("pads", i64(0, 0, 1, 2, 0, 0, 2, 1))
    g.add_constant("rows", i64(3, 0))
    g.nodes = [
        Node("less", "Less", ["x", "zero"], ["neg"]),
        Node("square", "Pow", ["x", "two"], ["sq"]),
        Node("where", "Where", ["neg", "sq", "x"], ["w"]),
        Node("prelu", "PRelu", ["w", "slope"], ["p"]),
        Node("pad", "Pad", ["p", "pads"], ["y"], {"mode": "reflect"}),
        Node("gather", "Gather", ["k", "rows"], ["g"], {"axis": 0}),
        Node("pick", "Gather", ["g", "rows"], ["n"], {"axis": 1}),
    ]
    infer_shapes(g, default_registry())
    session = Model(g).session(["cpu"], cpu_threads=threads)
    ref = Model(g).session(["reference"])
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        feeds = {"x": randn(rng, 1, 6, 5, 7), "k": rng.integers(-99, 99, (4, 9))}
        ours, expected = session.run(feeds), ref.run(feeds)
        for name in g.outputs:
            np.testing.assert_array_equal(ours[name], expected[name])
    arena = arena_for(g, session.options)
    assert arena.slot("neg", (1, 6, 5, 7), np.bool_)[0].dtype == np.bool_
    assert arena.slot("g", (2, 9), np.int64)[0].dtype == np.int64


# -- the zoo models that needed these kernels ----------------------------------------------------
ZOO = {"silero-vad": "onnx", "silero-vad-16k": "onnx", "basic-pitch": "onnx",
       "face-detection-full-range": "tflite", "pose-detection": "tflite",
       "palm-detection-lite": "tflite", "face-landmark": "tflite", "iris-landmark": "tflite"}
FRAMEWORK = {"onnx": "onnxruntime", "tflite": "ai_edge_litert"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_runs_on_cpu_alone(name, tmp_path):
    from mace_core.catalog import CATALOG
    from mace_core.cli.zoo import convert_entry
    from mace_core.compare import compare
    from mace_core.fetch import FetchError, fetch
    from mace_core.registry import default_registry
    from mace_core.runtime.model import load

    entry = CATALOG[name]
    module = FRAMEWORK[entry.format]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{name} is compared with {module}, which is not installed")
    try:
        src = fetch(entry, log=lambda m: None)
    except FetchError as exc:
        pytest.skip(f"{name} is not in the model cache and could not be fetched: {exc}")
    session = load(convert_entry(entry, tmp_path)).session(["cpu", "reference"])
    fallbacks = sorted({s.node.op_type for s in session.placement.steps if s.device != "cpu"})
    assert not fallbacks, f"{name}: ops left on the reference device: {fallbacks}"
    feeds = entry.random_inputs(seed=0)
    expected = default_registry().converter_for(src, entry.format).run_source(src, feeds)
    ours = session.run({k: v for k, v in feeds.items() if k not in entry.frozen_inputs})
    results = [compare(k, ours[k], v, cosine_min=entry.cosine_min, rel_max=entry.rel_max)
               for k, v in expected.items()]
    assert all(r.ok for r in results), [r for r in results if not r.ok]
