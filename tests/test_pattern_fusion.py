"""pattern_fusion: spelled-out HardSwish, SiLU, Gelu and LayerNorm become one op each.

Every case is an ONNX model made with onnx.helper, converted through the pipeline
(import_model + optimize); the op counts after optimisation are checked, and the outputs
against onnxruntime running the original model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mace_core.pipeline import import_model, optimize
from mace_core.specs import ConvertOptions
from mace_core.testing import assert_close, run_reference

onnx = pytest.importorskip("onnx", reason="the pattern tests build ONNX models")
ort = pytest.importorskip("onnxruntime", reason="outputs are compared with onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(7)
SIXTH = 1.0 / 6.0


def node(op: str, inputs: list[str], output: str, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=f"{op.lower()}_{output}", **attrs)


def scalar(name: str, value: float) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, np.float32), name)


def convert_and_compare(tmp_path: Path, nodes, inits, shape, outputs=("y",), opset=13):
    """Save the model, convert and optimise it; outputs must match onnxruntime's."""
    graph = helper.make_graph(
        nodes, "pattern", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_operatorsetid("", opset)])
    model.ir_version = 8
    path = tmp_path / "pattern.onnx"
    onnx.save(model, str(path))
    converted = import_model(path, ConvertOptions())
    optimize(converted)
    x = (RNG.standard_normal(shape) * 3.0).astype(np.float32)
    # onnxruntime's own fusions would run the spelled-out graph as fused ops (and its
    # LayerNorm fusion takes Pow(d, 4) for a variance): run the ops as written
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    expected = dict(zip(outputs, session.run(list(outputs), {"x": x}), strict=True))
    ours = run_reference(converted, {"x": x})
    for name in outputs:
        assert_close(ours[name], expected[name], name=name)
    return converted


def conv_then(pattern: list, extra_inits=()) -> tuple[list, list]:
    """``c = Conv(x)`` (3 -> 4 channels) followed by ``pattern`` reading ``c``."""
    w = numpy_helper.from_array(RNG.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(RNG.standard_normal(4).astype(np.float32), "b")
    nodes = [node("Conv", ["x", "w", "b"], "c", pads=[1, 1, 1, 1]), *pattern]
    return nodes, [w, b, *extra_inits]


CONV_INPUT = (1, 3, 6, 6)
RELU6 = [scalar("zero", 0.0), scalar("six", 6.0), scalar("three", 3.0)]


# -- HardSwish ------------------------------------------------------------------------------
HARD_SWISH = {
    # x * Clip(x + 3, 0, 6) / 6
    "mul_then_div": [node("Add", ["c", "three"], "a"), node("Clip", ["a", "zero", "six"], "r"),
                     node("Mul", ["c", "r"], "m"), node("Div", ["m", "six"], "y")],
    # 1/6 * (Clip(3 + x, 0, 6) * x)
    "mul_then_mul_sixth": [node("Add", ["three", "c"], "a"),
                           node("Clip", ["a", "zero", "six"], "r"),
                           node("Mul", ["r", "c"], "m"), node("Mul", ["sixth", "m"], "y")],
    # x * (Clip(x + 3, 0, 6) / 6)
    "clip_div_first": [node("Add", ["c", "three"], "a"), node("Clip", ["a", "zero", "six"], "r"),
                       node("Div", ["r", "six"], "h"), node("Mul", ["c", "h"], "y")],
    # (x * 1/6) * Clip(x + 3, 0, 6)
    "x_scaled_first": [node("Add", ["c", "three"], "a"), node("Clip", ["a", "zero", "six"], "r"),
                       node("Mul", ["c", "sixth"], "d"), node("Mul", ["d", "r"], "y")],
    # x * HardSigmoid(x) with alpha 1/6, beta 1/2
    "hard_sigmoid": [node("HardSigmoid", ["c"], "h", alpha=SIXTH, beta=0.5),
                     node("Mul", ["c", "h"], "y")],
}


@pytest.mark.parametrize("spelling", sorted(HARD_SWISH))
def test_hard_swish_fuses_into_conv(tmp_path, spelling):
    nodes, inits = conv_then(HARD_SWISH[spelling], [*RELU6, scalar("sixth", SIXTH)])
    graph = convert_and_compare(tmp_path, nodes, inits, CONV_INPUT)
    assert graph.op_types() == {"Conv": 1}
    assert graph.nodes[0].attrs["activation"] == "HardSwish"


def test_hard_swish_with_clip_attributes(tmp_path):
    """Clip-6 (opset 10): bounds as attributes."""
    pattern = [node("Add", ["c", "three"], "a"), node("Clip", ["a"], "r", min=0.0, max=6.0),
               node("Mul", ["c", "r"], "m"), node("Div", ["m", "six"], "y")]
    nodes, inits = conv_then(pattern, RELU6)
    graph = convert_and_compare(tmp_path, nodes, inits, CONV_INPUT, opset=10)
    assert graph.op_types() == {"Conv": 1}
    assert graph.nodes[0].attrs["activation"] == "HardSwish"


def test_hard_swish_of_a_graph_input_stays_a_node(tmp_path):
    pattern = [node("Add", ["x", "three"], "a"), node("Clip", ["a", "zero", "six"], "r"),
               node("Mul", ["x", "r"], "m"), node("Div", ["m", "six"], "y")]
    graph = convert_and_compare(tmp_path, pattern, RELU6, (2, 7))
    assert graph.op_types() == {"HardSwish": 1}


CLIP_KEPT = {"Add", "Mul", "Div"}  # activation_fusion puts the Clip onto the Add
HARD_SWISH_NOT = {
    "add_3.5": ([node("Add", ["c", "k"], "a"), node("Clip", ["a", "zero", "six"], "r"),
                 node("Mul", ["c", "r"], "m"), node("Div", ["m", "six"], "y")],
                [scalar("k", 3.5)], ("y",), CLIP_KEPT),
    "div_by_6.001": ([node("Add", ["c", "three"], "a"), node("Clip", ["a", "zero", "six"], "r"),
                      node("Mul", ["c", "r"], "m"), node("Div", ["m", "k"], "y")],
                     [scalar("k", 6.001)], ("y",), CLIP_KEPT),
    "clip_0_to_5": ([node("Add", ["c", "three"], "a"), node("Clip", ["a", "zero", "k"], "r"),
                     node("Mul", ["c", "r"], "m"), node("Div", ["m", "six"], "y")],
                    [scalar("k", 5.0)], ("y",), CLIP_KEPT),
    "clip_is_an_output": ([node("Add", ["c", "three"], "a"),
                           node("Clip", ["a", "zero", "six"], "r"),
                           node("Mul", ["c", "r"], "m"), node("Div", ["m", "six"], "y")],
                          [], ("y", "r"), CLIP_KEPT),
    "product_read_twice": ([node("Add", ["c", "three"], "a"),
                            node("Clip", ["a", "zero", "six"], "r"),
                            node("Mul", ["c", "r"], "m"), node("Div", ["m", "six"], "y"),
                            node("Relu", ["m"], "z")],
                           [], ("y", "z"), CLIP_KEPT),
    "other_tensor": ([node("Add", ["c", "three"], "a"), node("Clip", ["a", "zero", "six"], "r"),
                      node("Relu", ["c"], "q"), node("Mul", ["q", "r"], "m"),
                      node("Div", ["m", "six"], "y")],
                     [], ("y",), CLIP_KEPT),
    "hard_sigmoid_alpha_0.2": ([node("HardSigmoid", ["c"], "h", alpha=0.2, beta=0.5),
                                node("Mul", ["c", "h"], "y")], [], ("y",),
                               {"HardSigmoid", "Mul"}),
}


@pytest.mark.parametrize("case", sorted(HARD_SWISH_NOT))
def test_hard_swish_not_fused(tmp_path, case):
    pattern, extra, outputs, kept = HARD_SWISH_NOT[case]
    nodes, inits = conv_then(pattern, [*RELU6, *extra])
    graph = convert_and_compare(tmp_path, nodes, inits, CONV_INPUT, outputs)
    ops = graph.op_types()
    assert "HardSwish" not in ops and kept <= set(ops)
    assert all(n.attrs.get("activation") != "HardSwish" for n in graph.nodes)


# -- Swish (SiLU) ---------------------------------------------------------------------------
SWISH = {
    "x_times_sigmoid": ([node("Sigmoid", ["c"], "s"), node("Mul", ["c", "s"], "y")], 1.0),
    "sigmoid_times_x": ([node("Sigmoid", ["c"], "s"), node("Mul", ["s", "c"], "y")], 1.0),
    "with_beta": ([node("Mul", ["c", "beta"], "bx"), node("Sigmoid", ["bx"], "s"),
                   node("Mul", ["c", "s"], "y")], 1.702),
    "with_beta_as_div": ([node("Div", ["c", "two"], "bx"), node("Sigmoid", ["bx"], "s"),
                          node("Mul", ["s", "c"], "y")], 0.5),
}


@pytest.mark.parametrize("spelling", sorted(SWISH))
def test_silu_fuses_into_conv(tmp_path, spelling):
    pattern, alpha = SWISH[spelling]
    nodes, inits = conv_then(pattern, [scalar("beta", 1.702), scalar("two", 2.0)])
    graph = convert_and_compare(tmp_path, nodes, inits, CONV_INPUT)
    assert graph.op_types() == {"Conv": 1}
    (conv,) = graph.nodes
    assert conv.attrs["activation"] == "Swish"
    np.testing.assert_allclose(conv.attrs["activation_params"], [alpha], rtol=1e-6)


def test_silu_of_a_graph_input_stays_a_node(tmp_path):
    pattern = [node("Sigmoid", ["x"], "s"), node("Mul", ["x", "s"], "y")]
    graph = convert_and_compare(tmp_path, pattern, [], (3, 5))
    assert graph.op_types() == {"Swish": 1} and graph.nodes[0].attrs == {"alpha": 1.0}


@pytest.mark.parametrize("case", ["sigmoid_is_an_output", "sigmoid_read_twice", "other_tensor"])
def test_silu_not_fused(tmp_path, case):
    pattern = [node("Sigmoid", ["c"], "s"), node("Mul", ["c", "s"], "y")]
    outputs: tuple[str, ...] = ("y",)
    if case == "sigmoid_is_an_output":
        outputs = ("y", "s")
    elif case == "sigmoid_read_twice":
        pattern.append(node("Add", ["s", "c"], "z"))
        outputs = ("y", "z")
    else:
        pattern = [node("Sigmoid", ["c"], "s"), node("Relu", ["c"], "q"),
                   node("Mul", ["q", "s"], "y")]
    nodes, inits = conv_then(pattern)
    graph = convert_and_compare(tmp_path, nodes, inits, CONV_INPUT, outputs)
    ops = graph.op_types()
    assert "Swish" not in ops and ops.get("Sigmoid") == 1 and ops.get("Mul") == 1
    assert all(n.attrs.get("activation") != "Swish" for n in graph.nodes)


# -- Gelu -----------------------------------------------------------------------------------
GELU_CONSTS = [scalar("sqrt2", math.sqrt(2.0)), scalar("inv_sqrt2", 1 / math.sqrt(2.0)),
               scalar("one", 1.0), scalar("half", 0.5)]
GELU = {
    # x * (1 + erf(x / sqrt2)) * 0.5 (the PyTorch export)
    "torch": [node("Div", ["x", "sqrt2"], "d"), node("Erf", ["d"], "e"),
              node("Add", ["e", "one"], "t"), node("Mul", ["x", "t"], "m"),
              node("Mul", ["m", "half"], "y")],
    # x * (0.5 * (1 + erf(x * 1/sqrt2)))
    "half_on_sum": [node("Mul", ["x", "inv_sqrt2"], "d"), node("Erf", ["d"], "e"),
                    node("Add", ["one", "e"], "t"), node("Mul", ["t", "half"], "h"),
                    node("Mul", ["x", "h"], "y")],
    # (0.5 * x) * (1 + erf(x / sqrt2))
    "half_on_x": [node("Mul", ["half", "x"], "hx"), node("Div", ["x", "sqrt2"], "d"),
                  node("Erf", ["d"], "e"), node("Add", ["e", "one"], "t"),
                  node("Mul", ["hx", "t"], "y")],
}


@pytest.mark.parametrize("spelling", sorted(GELU))
def test_gelu_fuses(tmp_path, spelling):
    graph = convert_and_compare(tmp_path, GELU[spelling], GELU_CONSTS, (2, 3, 8))
    assert graph.op_types() == {"Gelu": 1}
    assert graph.nodes[0].inputs == ["x"] and graph.nodes[0].outputs == ["y"]


@pytest.mark.parametrize("case", ["sqrt2_as_1.41", "sum_is_an_output", "half_is_0.6"])
def test_gelu_not_fused(tmp_path, case):
    nodes = list(GELU["torch"])
    consts = list(GELU_CONSTS)
    outputs: tuple[str, ...] = ("y",)
    if case == "sqrt2_as_1.41":
        consts[0] = scalar("sqrt2", 1.41)
    elif case == "half_is_0.6":
        consts[3] = scalar("half", 0.6)
    else:
        outputs = ("y", "t")
    graph = convert_and_compare(tmp_path, nodes, consts, (2, 3, 8), outputs)
    ops = graph.op_types()
    assert "Gelu" not in ops and ops.get("Erf") == 1


# -- LayerNormalization ---------------------------------------------------------------------
def layer_norm(*, axes=(-1,), square="Pow", divide=True, scale=True, bias=True,
               axes_input=False, eps=1e-5, normalized=(16,)) -> tuple[list, list]:
    """The spelled-out LayerNorm of ``x`` into ``y``; constants as a list of initializers."""
    def mean(src, out):
        if axes_input:
            return node("ReduceMean", [src, "axes"], out)
        return node("ReduceMean", [src], out, axes=list(axes))

    inits = [scalar("eps", eps), scalar("two", 2.0),
             numpy_helper.from_array(np.array(axes, np.int64), "axes"),
             numpy_helper.from_array(RNG.uniform(0.5, 1.5, normalized).astype(np.float32), "g"),
             numpy_helper.from_array(RNG.standard_normal(normalized).astype(np.float32), "b")]
    nodes = [mean("x", "mu"), node("Sub", ["x", "mu"], "d"),
             node("Pow", ["d", "two"], "sq") if square == "Pow" else node("Mul", ["d", "d"], "sq"),
             mean("sq", "var"), node("Add", ["var", "eps"], "ve"), node("Sqrt", ["ve"], "std")]
    if divide:
        nodes.append(node("Div", ["d", "std"], "n"))
    else:
        nodes += [node("Reciprocal", ["std"], "inv"), node("Mul", ["inv", "d"], "n")]
    last = "n"
    if scale:
        nodes.append(node("Mul", [last, "g"], "ng"))
        last = "ng"
    if bias:
        nodes.append(node("Add", ["b", last], "nb"))
        last = "nb"
    nodes.append(node("Identity", [last], "y"))
    return nodes, inits


LAYER_NORM = {
    "pow_div_scale_bias": ({}, 13),
    "mul_reciprocal_no_params": ({"square": "Mul", "divide": False, "scale": False,
                                  "bias": False}, 13),
    "axes_input_opset18": ({"axes_input": True}, 18),
    "two_trailing_axes": ({"axes": (1, 2), "normalized": (5, 16), "eps": 1e-6}, 13),
    "bias_only": ({"scale": False}, 13),
}


@pytest.mark.parametrize("spelling", sorted(LAYER_NORM))
def test_layer_norm_fuses(tmp_path, spelling):
    options, opset = LAYER_NORM[spelling]
    nodes, inits = layer_norm(**options)
    graph = convert_and_compare(tmp_path, nodes, inits, (2, 5, 16), opset=opset)
    assert graph.op_types() == {"LayerNormalization": 1}
    (ln,) = graph.nodes
    axes = options.get("axes", (-1,))
    assert ln.attrs["axis"] == -len(axes)
    assert ln.attrs["epsilon"] == pytest.approx(options.get("eps", 1e-5), rel=1e-6)
    assert len(ln.inputs) == (3 if options.get("bias", True) else 2)


LAYER_NORM_NOT = {
    "middle_axis": ({"axes": (1,), "normalized": (5, 1), "scale": False, "bias": False}, ()),
    "pow_4": ({}, ()),
    "mean_is_an_output": ({}, ("mu",)),
    "centered_read_again": ({}, ("d",)),
}


@pytest.mark.parametrize("case", sorted(LAYER_NORM_NOT))
def test_layer_norm_not_fused(tmp_path, case):
    options, more_outputs = LAYER_NORM_NOT[case]
    nodes, inits = layer_norm(**options)
    if case == "pow_4":
        inits[1] = scalar("two", 3.0)
    graph = convert_and_compare(tmp_path, nodes, inits, (2, 5, 16), ("y", *more_outputs))
    ops = graph.op_types()
    assert "LayerNormalization" not in ops and ops.get("ReduceMean") == 2


def test_layer_norm_keeps_a_runtime_scale_outside(tmp_path):
    """A scale computed at run time stays a Mul after the fused LayerNormalization."""
    nodes, inits = layer_norm(scale=False, bias=False)
    nodes[-1] = node("Sigmoid", ["x"], "gate")
    nodes.append(node("Mul", ["n", "gate"], "y"))
    graph = convert_and_compare(tmp_path, nodes, inits, (2, 5, 16))
    assert graph.op_types() == {"LayerNormalization": 1, "Mul": 1, "Sigmoid": 1}
