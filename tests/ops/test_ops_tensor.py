"""Tensor and math ops: each reference kernel and its shape/dtype inference against
onnxruntime on tiny one-node models, plus the ONNX backend node test cases.

Kernels are called directly: the ONNX node becomes a ``mace_core.ir.Node`` (attributes as
numpy values) and its attributes are resolved through the op's schema, as the runtime does.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import helper, numpy_helper  # noqa: E402

from mace_core.dtypes import DType  # noqa: E402
from mace_core.errors import ValidationError  # noqa: E402
from mace_core.ir import Node, TensorDesc  # noqa: E402
from mace_core.ops import (  # noqa: E402
    activations,
    cast,
    elementwise,
    generators,
    logical,
    reduce,
    shape_ops,
    slicing,
    unary_math,
)
from mace_core.schema import InferContext  # noqa: E402

MODULES = (activations, elementwise, unary_math, logical, shape_ops, slicing, generators,
           reduce, cast)
OPS = {op.schema.op_type: op for module in MODULES for op in module.OPS}


# -- running one ONNX node through our schema and kernel ----------------------------------------
def to_node(proto: onnx.NodeProto) -> Node:
    """Our Node for an ONNX node: attribute values verbatim, tensors as numpy arrays."""
    attrs = {}
    for attr in proto.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        attrs[attr.name] = value
    return Node(proto.name or "node", proto.op_type, list(proto.input), list(proto.output), attrs)


def run_ours(proto: onnx.NodeProto, arrays: list, known=None):
    """(kernel outputs, inferred (shape, dtype) per output). ``known``: indices of inputs whose
    values shape inference may read (None: all)."""
    node = to_node(proto)
    op = OPS[node.op_type]
    op.schema.check_arity(node)
    attrs = op.schema.resolve_attrs(node)
    descs = [TensorDesc(name, DType.from_numpy(a.dtype), a.shape) if name else None
             for name, a in zip(node.inputs, arrays, strict=True)]
    values = [a if name and (known is None or i in known) else None
              for i, (name, a) in enumerate(zip(node.inputs, arrays, strict=True))]
    specs = list(op.schema.infer(InferContext(node, descs, values, attrs)))
    outputs = op.reference(*arrays, **attrs)
    return (outputs if isinstance(outputs, (tuple, list)) else (outputs,)), specs


def assert_outputs(proto, ours, specs, expected, rtol: float, atol: float) -> None:
    """Our outputs and inferred specs equal ``expected`` (one per present node output)."""
    present = [i for i, name in enumerate(proto.output) if name]
    for i, want in zip(present, expected, strict=True):
        want = np.asarray(want)
        got = np.asarray(ours[i])
        assert specs[i] == (want.shape, DType.from_numpy(want.dtype)), f"inferred output {i}"
        assert (got.shape, got.dtype) == (want.shape, want.dtype), f"kernel output {i}"
        if np.issubdtype(want.dtype, np.floating):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(got, want)


def check(op_type: str, inputs: list, attrs: dict | None = None, *, opset: int = 21,
          outputs: int = 1, known=(), rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Run a one-node model in onnxruntime and through our inference + kernel; compare."""
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    outs = [f"y{i}" for i in range(outputs)]
    proto = helper.make_node(op_type, names, outs, name=f"{op_type}_node", **(attrs or {}))
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype),
                                                  a.shape)
                    for n, a in zip(names, inputs, strict=True) if n]
    graph = helper.make_graph([proto], "g", graph_inputs,
                              [onnx.ValueInfoProto(name=o) for o in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {n: a for n, a in zip(names, inputs, strict=True) if n})
    ours, specs = run_ours(proto, list(inputs), set(known))
    assert_outputs(proto, ours, specs, expected, rtol, atol)


# -- cases against onnxruntime (random data, fixed seed) -----------------------------------------
rng = np.random.default_rng(0)


def f32(*shape, lo=-3.0, hi=3.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def f16(*shape):
    return f32(*shape).astype(np.float16)


def ints(*shape, lo=-9, hi=10, dtype=np.int32):
    return rng.integers(lo, hi, shape).astype(dtype)


def bools(*shape):
    return rng.integers(0, 2, shape).astype(bool)


def i64(*values):
    return np.array(values, dtype=np.int64)


def case(op_type: str, inputs: list, attrs: dict | None = None, name: str = "", **kw):
    label = f"{op_type}-{name}" if name else op_type
    return pytest.param(op_type, inputs, attrs or {}, kw, id=label)


ACTIVATION_CASES = [
    *(case(op, [f32(2, 3, 4)]) for op in ("Relu", "Sigmoid", "Tanh", "HardSwish", "Softplus",
                                          "Softsign", "HardSigmoid", "Elu", "Selu", "Celu",
                                          "ThresholdedRelu", "LeakyRelu")),
    case("Relu", [ints(5)], name="int32"),
    case("Sigmoid", [f16(3, 4)], name="f16", rtol=1e-3, atol=1e-3),
    case("Tanh", [f16(3, 4)], name="f16", rtol=1e-3, atol=1e-3),
    case("LeakyRelu", [f32(6)], {"alpha": 0.3}, name="alpha"),
    case("HardSigmoid", [f32(6)], {"alpha": 0.5, "beta": 0.6}, name="alpha-beta"),
    case("Elu", [f32(6)], {"alpha": 2.0}, name="alpha"),
    case("Selu", [f32(6)], {"alpha": 2.0, "gamma": 3.0}, name="alpha-gamma"),
    case("Celu", [f32(6)], {"alpha": 2.0}, name="alpha"),
    case("ThresholdedRelu", [f32(6)], {"alpha": 0.5}, name="alpha"),
    case("Mish", [f32(2, 5)], opset=18),
    case("Swish", [f32(2, 5)], opset=24),
    case("Swish", [f32(2, 5)], {"alpha": 0.7}, name="alpha", opset=24),
    case("Gelu", [f32(3, 7)], opset=20),
    case("Gelu", [f32(3, 7)], {"approximate": "tanh"}, name="tanh", opset=20),
    case("Gelu", [f16(3, 7)], name="f16", opset=20, rtol=1e-3, atol=1e-3),
    case("Clip", [f32(2, 6)], {"min": -0.5, "max": 1.0}, name="attrs", opset=6),
    case("Clip", [f32(2, 6), np.array(-1, np.float32), np.array(0.5, np.float32)], name="inputs",
         opset=13),
    case("Clip", [f32(2, 6), None, np.array(0.5, np.float32)], name="max-only", opset=13),
    case("Clip", [ints(8), np.array(-2, np.int32), np.array(3, np.int32)], name="int32", opset=13),
    case("PRelu", [f32(2, 3, 4), f32(3, 1)], name="channel"),
    case("PRelu", [f32(2, 3, 4), f32(4)], name="last-axis"),
    case("PRelu", [f32(2, 3, 4), f32(1)], name="shared"),
]

ELEMENTWISE_CASES = [
    *(case(op, [f32(2, 3, 4), f32(3, 1)], name="broadcast") for op in ("Add", "Sub", "Mul", "Div")),
    case("Add", [ints(3, 4), ints(4)], name="int32"),
    case("Mul", [f16(3, 4), f16(3, 4)], name="f16", rtol=1e-3, atol=1e-3),
    case("Div", [ints(12, lo=-50, hi=50), ints(12, lo=1, hi=7) * np.array([1, -1] * 6, np.int32)],
         name="int32-truncates"),
    case("Div", [ints(6, lo=-9, hi=9, dtype=np.int64), i64(2, -2, 3, -3, 4, -4)], name="int64"),
    case("Div", [ints(6, lo=0, hi=200, dtype=np.uint8), ints(6, lo=1, hi=9, dtype=np.uint8)],
         name="uint8"),
    case("Pow", [f32(3, 4, lo=0.1, hi=3), f32(4, lo=-2, hi=2)], name="float"),
    case("Pow", [f32(3, 4), i64(2, 3, 0, 1)], name="float-int64", opset=15),
    case("Pow", [ints(6, lo=-4, hi=5), np.array([0, 1, 2, 3, 2, 1], np.int32)], name="int32",
         opset=15),
    case("Pow", [ints(5, lo=1, hi=9), f32(5, lo=0, hi=2)], name="int32-float", opset=15),
    case("Mod", [ints(12, lo=-20, hi=20), ints(12, lo=1, hi=6) * np.array([1, -1] * 6, np.int32)],
         name="floor"),
    case("Mod", [ints(12, lo=-20, hi=20), ints(12, lo=1, hi=6) * np.array([1, -1] * 6, np.int32)],
         {"fmod": 1}, name="fmod-int"),
    case("Mod", [f32(3, 4), f32(4, lo=0.5, hi=2)], {"fmod": 1}, name="fmod-float"),
    case("Min", [f32(2, 3), f32(3), f32(1, 1)], name="three"),
    case("Max", [f32(2, 3), f32(2, 1)], name="two"),
    case("Max", [ints(4, 3)], name="one-int32"),
    case("Sum", [f32(2, 3), f32(3), f32(2, 1)], name="three"),
    case("Mean", [f32(2, 3), f32(3), f32(2, 1)], name="three"),
    case("BitShift", [ints(6, lo=0, hi=255, dtype=np.uint8), ints(6, lo=0, hi=8, dtype=np.uint8)],
         {"direction": "LEFT"}, name="left"),
    case("BitShift", [ints(6, lo=0, hi=255, dtype=np.uint8), ints(6, lo=0, hi=8, dtype=np.uint8)],
         {"direction": "RIGHT"}, name="right"),
    *(case(op, [f32(2, 3).round(), f32(3).round()], name="float")
      for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual")),
    *(case(op, [ints(3, 4, lo=0, hi=3), ints(4, lo=0, hi=3)], name="int32")
      for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual")),
    case("Equal", [bools(4), bools(4)], name="bool"),
]

ROUND_HALVES = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 3.7, -3.2], np.float32)
UNARY_CASES = [
    *(case(op, [f32(2, 5)]) for op in ("Exp", "Abs", "Neg", "Erf", "Floor", "Ceil", "Sign",
                                      "Sin", "Cos", "Tan", "Atan", "Sinh", "Cosh", "Asinh")),
    *(case(op, [f32(2, 5, lo=0.1, hi=5)]) for op in ("Sqrt", "Log", "Reciprocal")),
    *(case(op, [f32(2, 5, lo=-0.99, hi=0.99)]) for op in ("Asin", "Acos", "Atanh")),
    case("Acosh", [f32(2, 5, lo=1, hi=5)]),
    case("Erf", [f32(100, lo=-6, hi=6)], name="wide-range"),
    case("Erf", [f16(10)], name="f16", rtol=1e-3, atol=1e-3),
    case("Round", [ROUND_HALVES], name="halves-to-even"),
    *(case(op, [ints(7)], name="int32") for op in ("Abs", "Neg", "Sign")),
    case("IsNaN", [np.array([1, np.nan, np.inf, -np.inf, 0], np.float32)]),
    case("IsInf", [np.array([1, np.nan, np.inf, -np.inf, 0], np.float32)]),
    case("IsInf", [np.array([1, np.nan, np.inf, -np.inf], np.float32)], {"detect_negative": 0},
         name="positive"),
    case("IsInf", [np.array([1, np.nan, np.inf, -np.inf], np.float32)], {"detect_positive": 0},
         name="negative"),
]

LOGICAL_CASES = [
    case("Not", [bools(3, 4)]),
    *(case(op, [bools(3, 4), bools(4)]) for op in ("And", "Or", "Xor")),
    case("Where", [bools(3, 4), f32(4), f32(3, 1)]),
    case("Where", [bools(4), ints(2, 4, dtype=np.int64), ints(1, dtype=np.int64)], name="int64"),
]

SHAPE_CASES = [
    case("Reshape", [f32(2, 3, 4), i64(4, -1)], name="minus-one", known={1}),
    case("Reshape", [f32(2, 3, 4), i64(0, 0, -1, 2)], name="zero-copies", known={1}),
    case("Reshape", [f32(2, 0, 4), i64(0, 4, 0)], {"allowzero": 1}, name="allowzero", known={1}),
    case("Reshape", [f32(1, 1, 1), i64()], name="to-scalar", known={1}),
    *(case("Flatten", [f32(2, 3, 4, 5)], {"axis": a}, name=f"axis{a}") for a in (0, 1, 2, -1, 4)),
    case("Squeeze", [f32(1, 3, 1, 4)], name="all"),
    case("Squeeze", [f32(1, 3, 1, 4)], {"axes": [0, -2]}, name="attr", opset=11),
    case("Squeeze", [f32(1, 3, 1, 4), i64(2)], name="input", known={1}),
    case("Unsqueeze", [f32(3, 4)], {"axes": [0, 3]}, name="attr", opset=11),
    case("Unsqueeze", [f32(3, 4), i64(-1, 1)], name="input", known={1}),
    case("Transpose", [f32(2, 3, 4)], name="reverse"),
    case("Transpose", [f32(2, 3, 4, 5)], {"perm": [0, 2, 3, 1]}, name="nhwc"),
    case("Expand", [f32(3, 1), i64(2, 1, 4)], name="grow", known={1}),
    case("Expand", [f32(2, 3), i64(1)], name="smaller-shape", known={1}),
    case("Expand", [bools(1, 4), i64(3, 4)], name="bool", known={1}),
    case("Shape", [f32(2, 3, 4)]),
    case("Shape", [f32(2, 3, 4, 5)], {"start": 1}, name="start", opset=15),
    case("Shape", [f32(2, 3, 4, 5)], {"start": -3, "end": -1}, name="negative", opset=15),
    case("Shape", [f32(2, 3, 4, 5)], {"start": 3, "end": 1}, name="empty", opset=15),
    case("Size", [f32(2, 3, 4)]),
    case("Identity", [ints(3, 2)]),
    case("Dropout", [f32(3, 4)], name="one-output"),
    case("Dropout", [f32(3, 4), np.array(0.3, np.float32)], name="mask", outputs=2, known={1}),
    # (before opset 12 onnxruntime leaves the mask all False; opset 13 and the spec: all True)
    case("Dropout", [f32(3, 4)], {"ratio": 0.2}, name="ratio-attr", opset=10),
]

SLICING_CASES = [
    case("Concat", [f32(2, 3), f32(4, 3), f32(1, 3)], {"axis": 0}, name="axis0"),
    case("Concat", [ints(2, 1, 3), ints(2, 1, 1)], {"axis": -1}, name="negative-axis"),
    case("Split", [f32(6, 4), i64(1, 2, 3)], name="input", outputs=3, known={1}),
    case("Split", [f32(2, 7)], {"axis": 1, "split": [3, 4]}, name="attr", opset=11, outputs=2),
    case("Split", [f32(2, 7)], {"axis": -1, "num_outputs": 3}, name="num-outputs-uneven",
         opset=18, outputs=3),
    case("Split", [f32(8, 2)], {"num_outputs": 4}, name="num-outputs", opset=18, outputs=4),
    case("Slice", [f32(5, 6), i64(1, 0), i64(4, 100)], name="clamp", known={1, 2}),
    case("Slice", [f32(5, 6), i64(-1), i64(-100), i64(1), i64(-2)], name="negative-step",
         known={1, 2, 3, 4}),
    case("Slice", [f32(5, 6, 2), i64(4, 0), i64(-10, 6), i64(0, -2), i64(-1, 3)],
         name="steps-axes", known={1, 2, 3, 4}),
    case("Slice", [f32(5, 6), i64(2), i64(2)], name="empty", known={1, 2}),
    case("Slice", [f32(4, 5), i64(np.iinfo(np.int64).max), i64(np.iinfo(np.int64).min), i64(0),
                   i64(-1)], name="reverse-all", known={1, 2, 3, 4}),
    case("Slice", [f32(5, 6)], {"starts": [1, -3], "ends": [3, 1000], "axes": [0, 1]},
         name="attrs", opset=1),
    case("Gather", [f32(5, 3), i64(0, -1, 2, 2)], name="axis0"),
    case("Gather", [f32(2, 5, 3), np.array([[1, -2], [0, 4]], np.int32)], {"axis": 1},
         name="2d-indices"),
    case("Gather", [f32(5, 3), np.array(-1, np.int64)], {"axis": 0}, name="scalar-index"),
    case("GatherElements", [f32(3, 4), np.array([[0, 2], [1, -1]], np.int64)], {"axis": 0},
         name="axis0"),
    case("GatherElements", [f32(3, 4), ints(3, 6, lo=-4, hi=4, dtype=np.int64)], {"axis": -1},
         name="axis-last"),
    case("Tile", [f32(2, 3), i64(2, 3)], known={1}),
    case("Tile", [ints(2, 1, 2), i64(1, 4, 0)], name="zero", known={1}),
]
for op in ("ArgMax", "ArgMin"):
    TIES = ints(3, 5, lo=0, hi=3)
    SLICING_CASES += [
        case(op, [f32(3, 4, 5)], name="default"),
        case(op, [f32(3, 4, 5)], {"axis": -1, "keepdims": 0}, name="no-keepdims"),
        case(op, [TIES], {"axis": 1}, name="ties-first"),
        case(op, [TIES], {"axis": 1, "select_last_index": 1}, name="ties-last"),
    ]
SLICING_CASES += [
    case("TopK", [f32(3, 6), i64(3)], name="largest", outputs=2, known={1}),
    case("TopK", [f32(4, 6), i64(2)], {"axis": 0, "largest": 0}, name="smallest", outputs=2,
         known={1}),
    case("TopK", [ints(3, 8, lo=0, hi=3), i64(5)], name="ties", outputs=2, known={1}),
    case("TopK", [ints(3, 8, lo=0, hi=3), i64(5)], {"largest": 0}, name="ties-smallest",
         outputs=2, known={1}),
    case("TopK", [f32(3, 6)], {"k": 2}, name="attr", opset=9, outputs=2),
]

GENERATOR_CASES = [
    case("ConstantOfShape", [i64(2, 3)], name="default", known={0}),
    case("ConstantOfShape", [i64(4)], {"value": numpy_helper.from_array(i64(7))}, name="int64",
         known={0}),
    case("ConstantOfShape", [i64()],
         {"value": numpy_helper.from_array(np.array([2.5], np.float16))}, name="scalar-f16",
         known={0}),
    case("Range", [np.array(v, np.int32) for v in (2, 11, 3)], name="int32", known={0, 1, 2}),
    case("Range", [np.array(v, np.float32) for v in (1.0, -2.0, -0.7)], name="float-negative",
         known={0, 1, 2}),
    case("Range", [np.array(v, np.int64) for v in (5, 5, 1)], name="empty", known={0, 1, 2}),
    case("Constant", [], {"value": numpy_helper.from_array(f32(2, 3))}, name="tensor"),
    case("Constant", [], {"value_float": 1.5}, name="float"),
    case("Constant", [], {"value_floats": [1.5, -2.0]}, name="floats"),
    case("Constant", [], {"value_int": 3}, name="int"),
    case("Constant", [], {"value_ints": [3, 4, 5]}, name="ints"),
    case("EyeLike", [f32(3, 4)], name="square-ish"),
    case("EyeLike", [f32(4, 3)], {"k": 1}, name="k1"),
    case("EyeLike", [ints(3, 3)], {"k": -1, "dtype": onnx.TensorProto.FLOAT}, name="dtype"),
]

REDUCE_OPS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")
REDUCE_CASES = []
for op in REDUCE_OPS:
    data = f32(2, 3, 4, lo=0.1, hi=2) if op == "ReduceLogSum" else f32(2, 3, 4, lo=-1.5, hi=1.5)
    REDUCE_CASES += [
        case(op, [data], {"axes": [1]}, name="attr-axes", opset=11),
        case(op, [data], {"axes": [0, -1], "keepdims": 0}, name="attr-no-keepdims", opset=11),
        case(op, [data], name="all-axes", opset=18),
        case(op, [data], {"keepdims": 0}, name="all-to-scalar", opset=18),
        case(op, [data, i64(-2)], name="input-axes", opset=18, known={1}),
        case(op, [data, i64()], {"noop_with_empty_axes": 1}, name="noop", opset=18, known={1}),
    ]
REDUCE_CASES += [
    case("ReduceSum", [ints(3, 4), i64(1)], {"keepdims": 0}, name="int32", opset=13, known={1}),
    case("ReduceMax", [ints(3, 4, dtype=np.int64)], {"axes": [0]}, name="int64", opset=13),
    case("ReduceSum", [f16(3, 4), i64(1)], name="f16", opset=13, known={1}, rtol=1e-3, atol=1e-3),
]

CAST_CASES = [
    *(case("Cast", [f32(3, 4, lo=-100, hi=100)], {"to": int(code)}, name=dtype.value)
      for code, dtype in cast.ONNX_DTYPES.items() if dtype not in (DType.UINT8,)),
    case("Cast", [f32(3, 4, lo=0, hi=250)], {"to": onnx.TensorProto.UINT8}, name="uint8"),
    case("Cast", [np.array([0.0, -0.0, 0.5, np.nan, -3], np.float32)], {"to": 9}, name="to-bool"),
    case("Cast", [ints(5, lo=-300, hi=300)], {"to": onnx.TensorProto.INT8}, name="int32-wraps"),
    case("Cast", [bools(5)], {"to": onnx.TensorProto.FLOAT}, name="bool-to-float"),
    case("Cast", [f16(5)], {"to": onnx.TensorProto.FLOAT}, name="f16-to-float"),
    case("Cast", [ints(5, dtype=np.int64)], {"to": onnx.TensorProto.FLOAT16}, name="int64-to-f16"),
    case("CastLike", [f32(3, 2, lo=-50, hi=50), ints(1)], name="to-int32", opset=15),
    case("CastLike", [ints(3, 2), f16(1)], name="to-f16", opset=15),
]

ALL_CASES = (ACTIVATION_CASES + ELEMENTWISE_CASES + UNARY_CASES + LOGICAL_CASES + SHAPE_CASES
             + SLICING_CASES + GENERATOR_CASES + REDUCE_CASES + CAST_CASES)


@pytest.mark.parametrize(("op_type", "inputs", "attrs", "kw"), ALL_CASES)
def test_matches_onnxruntime(op_type: str, inputs: list, attrs: dict, kw: dict) -> None:
    check(op_type, inputs, attrs, **kw)


def test_every_op_has_an_onnxruntime_case() -> None:
    tested = {p.values[0] for p in ALL_CASES}
    assert sorted(set(OPS) - tested) == []


# -- ONNX backend node test cases --------------------------------------------------------------
def _as_array(value):
    """Backend data as numpy: TensorProto (used for float16 and exotic types) and scalars too."""
    if isinstance(value, onnx.TensorProto):
        try:
            return numpy_helper.to_array(value)
        except Exception:  # a type numpy cannot hold: leave it, it is reported unsupported
            return value
    return np.asarray(value) if isinstance(value, np.generic) else value


def _unsupported(values) -> str:
    """Why a data set cannot run here ("" when it can): an element type outside DType."""
    reasons = set()
    for value in values:
        if not isinstance(value, np.ndarray):
            reasons.add(type(value).__name__)
            continue
        try:
            DType.from_numpy(value.dtype)
        except TypeError:
            reasons.add(str(value.dtype))
    return ", ".join(sorted(reasons))


def _one_node_of_ours(model: onnx.ModelProto) -> bool:
    nodes = model.graph.node
    return len(nodes) == 1 and nodes[0].op_type in OPS and nodes[0].domain in ("", "ai.onnx")


def _tensors_only(model: onnx.ModelProto) -> bool:
    return all(vi.type.HasField("tensor_type")
               for vi in [*model.graph.input, *model.graph.output])


def _shipped_data() -> list[tuple[str, onnx.ModelProto, list]]:
    """(name, model, [(inputs, outputs)...]) from onnx/backend/test/data/node, if shipped."""
    root = Path(onnx.__file__).parent / "backend" / "test" / "data" / "node"
    found = []
    for path in sorted(root.glob("test_*")) if root.is_dir() else []:
        model = onnx.load(str(path / "model.onnx"))
        if not _one_node_of_ours(model):
            continue
        sets = [tuple([onnx.load_tensor(str(f)) for f in sorted(d.glob(f"{kind}_*.pb"))]
                      if _tensors_only(model) else [] for kind in ("input", "output"))
                for d in sorted(path.glob("test_data_set_*"))]
        found.append((path.name, model, sets))
    return found


def _generated_data() -> list[tuple[str, onnx.ModelProto, list]]:
    """The same cases made by the generators the data files come from (wheels without the
    files ship those). Ask for all op types: the first call in a process decides the set."""
    from onnx.backend.test.case.node import collect_testcases

    state = np.random.get_state()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    np.random.set_state(state)
    return [(tc.name, tc.model, tc.data_sets) for tc in cases]


def _backend_cases() -> tuple[list, list]:
    """(runnable, excluded-by-dtype) one-node backend cases of our ops, one per data set:
    (id, model, (inputs, outputs), reason excluded)."""
    runnable, excluded = [], []
    for name, model, data_sets in _shipped_data() or _generated_data():
        if not _one_node_of_ours(model):
            continue
        tensors_only = _tensors_only(model)
        for i, (inputs, outputs) in enumerate(data_sets):
            data = ([_as_array(a) for a in inputs], [_as_array(a) for a in outputs])
            reason = _unsupported(data[0] + data[1]) if tensors_only else "sequence/optional"
            (excluded if reason else runnable).append(
                (name if i == 0 else f"{name}_{i}", model, data, reason))
    return runnable, excluded


# Cases that run on supported dtypes but are expected to fail, each with its reason.
BACKEND_XFAIL = {
    # Training-mode dropout draws random masks; the reference device does inference only.
    "test_training_dropout": "training mode",
    "test_training_dropout_default": "training mode",
    "test_training_dropout_default_mask": "training mode",
    "test_training_dropout_mask": "training mode",
    # Split-13 without sizes splits into len(outputs) parts; kernels do not see the output
    # count, so the frontend must set num_outputs (Split-18 semantics) on such nodes.
    "test_split_equal_parts_1d_opset13": "needs num_outputs",
    "test_split_equal_parts_2d_opset13": "needs num_outputs",
    "test_split_equal_parts_default_axis_opset13": "needs num_outputs",
}

BACKEND_RUNNABLE, BACKEND_EXCLUDED = _backend_cases()


@pytest.mark.parametrize(
    ("model", "data"),
    [
        pytest.param(model, data, id=name,
                     marks=[pytest.mark.xfail(strict=True, raises=ValidationError,
                                              reason=BACKEND_XFAIL[name])]
                     if name in BACKEND_XFAIL else [])
        for name, model, data, _ in BACKEND_RUNNABLE
    ],
)
def test_onnx_backend_node_case(model, data) -> None:
    inputs, expected = data
    proto = model.graph.node[0]
    feeds = {vi.name: a for vi, a in zip(model.graph.input, inputs, strict=True)}
    arrays = [feeds[n] if n else None for n in proto.input]
    with np.errstate(all="ignore"):
        ours, specs = run_ours(proto, arrays)
    assert_outputs(proto, ours, specs, expected, rtol=1e-3, atol=1e-7)  # the ONNX runner's


def test_backend_cases_cover_every_op() -> None:
    covered = {model.graph.node[0].op_type for name, model, _, _ in BACKEND_RUNNABLE
               if name not in BACKEND_XFAIL}
    assert sorted(set(OPS) - covered) == []
    assert len(BACKEND_RUNNABLE) > 450  # the onnx release in use has 474


def test_backend_exclusions_are_dtypes_we_lack() -> None:
    """Excluded cases are those with an element type outside DType (double, int16, uint16-64,
    string, bfloat16, float8/4, int4/2, sequences, optionals) and nothing else."""
    reasons = {r for _, _, _, reason in BACKEND_EXCLUDED for r in reason.split(", ")}
    ours = {d.value for d in DType}
    assert reasons and not reasons & ours


# -- fused activations and error messages -------------------------------------------------------
@pytest.mark.parametrize(("op_type", "activation", "params", "unfused"), [
    ("Add", "Relu", (), lambda y: activations.relu(y)),
    ("Sub", "LeakyRelu", (0.2,), lambda y: activations.leaky_relu(y, alpha=0.2)),
    ("Mul", "Clip", (0.0, 6.0), lambda y: activations.clip(y, min=0.0, max=6.0)),
    ("Div", "HardSwish", (), lambda y: OPS["HardSwish"].reference(y)),
])
def test_fused_activation_equals_separate_op(op_type, activation, params, unfused) -> None:
    a, b = f32(2, 3, 4), f32(3, 1, lo=0.5, hi=2)
    node = Node("n", op_type, ["a", "b"], ["c"], {"activation": activation,
                                                  "activation_params": list(params)})
    attrs = OPS[op_type].schema.resolve_attrs(node)
    fused = OPS[op_type].reference(a, b, **attrs)
    plain = OPS[op_type].reference(a, b)
    np.testing.assert_array_equal(fused, unfused(plain))


def infer_error(op_type: str, shapes_dtypes: list, attrs: dict | None = None,
                values: list | None = None) -> str:
    """The message of the ValidationError that shape inference raises for this node."""
    names = [f"in{i}" if sd else "" for i, sd in enumerate(shapes_dtypes)]
    node = Node("bad_node", op_type, names, ["out0", "out1"][:1], attrs or {})
    descs = [TensorDesc(n, d, s) if n else None
             for n, (s, d) in zip(names, [sd or ((), None) for sd in shapes_dtypes], strict=True)]
    ctx = InferContext(node, descs, values or [None] * len(descs),
                       OPS[op_type].schema.resolve_attrs(node))
    with pytest.raises(ValidationError) as info:
        OPS[op_type].schema.infer(ctx)
    assert "bad_node" in str(info.value)
    return str(info.value)


F, I = DType.FLOAT32, DType.INT32


def test_inference_errors_name_the_input_and_the_expectation() -> None:
    assert "input 1 (target shape) must be known" in infer_error(
        "Reshape", [((2, 3), F), ((2,), DType.INT64)])
    assert "cannot reshape [2, 3] (6 elements) to [4, 2]" in infer_error(
        "Reshape", [((2, 3), F), ((2,), DType.INT64)], values=[None, i64(4, 2)])
    assert "[2, 3] and [4]" in infer_error("Add", [((2, 3), F), ((4,), F)])
    assert "input 1 has dtype int32, expected float32" in infer_error("Mul", [((2,), F), ((2,), I)])
    assert "input 1 has shape [2, 4], expected [1, 3] except along axis 0" in infer_error(
        "Concat", [((1, 3), F), ((2, 4), F)], {"axis": 0})
    assert "DOUBLE (11) is not supported" in infer_error("Cast", [((2,), F)], {"to": 11})
    assert "its size is 3, not 1" in infer_error("Squeeze", [((1, 3), F)], {"axes": [1]})
    assert "set num_outputs" in infer_error("Split", [((4,), F)])
    assert "input 0 (condition) has dtype float32, expected bool" in infer_error(
        "Where", [((2,), F), ((2,), F), ((2,), F)])
    assert "axis 2 is out of range for rank 2" in infer_error(
        "ReduceSum", [((2, 3), F)], {"axes": [2]})
    assert "slope" in infer_error("PRelu", [((2, 3), F), ((2,), F)])
    assert "k = 5 is outside [0, 4]" in infer_error(
        "TopK", [((4,), F), ((1,), DType.INT64)], values=[None, i64(5)])


def test_kernel_errors_are_clear() -> None:
    with pytest.raises(IndexError, match="index 3 is out of range for an axis of size 3"):
        slicing.gather(f32(3), i64(0, 3))
    with pytest.raises(ValueError, match="training mode"):
        shape_ops.dropout(f32(3), np.array(0.5, np.float32), np.array(True))
