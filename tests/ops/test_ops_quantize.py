"""QuantizeLinear / DequantizeLinear: reference kernels and shape/dtype inference against
onnxruntime on one-node models (per tensor, per axis, blocked; int8, uint8, int32)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

from mace_core.dtypes import DType  # noqa: E402
from mace_core.errors import ValidationError  # noqa: E402
from mace_core.ir import Node, TensorDesc  # noqa: E402
from mace_core.ops.quantize import OPS  # noqa: E402
from mace_core.schema import InferContext  # noqa: E402

BY_NAME = {op.schema.op_type: op for op in OPS}
rng = np.random.default_rng(3)


def run_ours(op_type: str, inputs: list, attrs: dict):
    """Our (inferred (shape, dtype), kernel output) for one node; constants unknown."""
    op = BY_NAME[op_type]
    node = Node("n", op_type, [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)],
                ["y"], dict(attrs))
    op.schema.check_arity(node)
    resolved = op.schema.resolve_attrs(node)
    descs = [TensorDesc(f"x{i}", DType.from_numpy(a.dtype), a.shape) if a is not None else None
             for i, a in enumerate(inputs)]
    ctx = InferContext(node, descs, [None] * len(inputs), resolved)
    (spec,) = op.schema.infer(ctx)
    return spec, op.reference(*inputs, **resolved)


def run_ort(op_type: str, inputs: list, attrs: dict, opset: int) -> np.ndarray:
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    node = helper.make_node(op_type, names, ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for n, a in zip(names, inputs, strict=True) if n],
        [onnx.ValueInfoProto(name="y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {n: a for n, a in zip(names, inputs, strict=True) if n})[0]


def f32(*shape, lo=-4.0, hi=4.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


HALVES = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, 300.0, -300.0, -128.5, 0.0],
                  np.float32)
SCALE = np.array(0.5, np.float32)
PER_AXIS = np.array([0.02, 0.05, 0.1], np.float32)

QUANTIZE_CASES = {
    "int8 halves-to-even saturating": ([HALVES, np.array(1.0, np.float32), np.int8(0)], {}),
    "uint8 zero point": ([f32(2, 3, 4), SCALE, np.uint8(128)], {}),
    "int8 zero point": ([f32(2, 3, 4, lo=-80, hi=80), SCALE, np.int8(-7)], {}),
    "no zero point is uint8": ([f32(5, lo=-1, hi=200), np.array(0.7, np.float32)], {}),
    "output_dtype int8": ([f32(5), np.array(0.03, np.float32)], {"output_dtype": 3}),
    "per axis": ([f32(2, 3, 4), PER_AXIS, np.array([0, -3, 5], np.int8)], {"axis": 1}),
    "per axis negative axis": ([f32(3, 2, 3), PER_AXIS, np.array([1, 2, 3], np.uint8)],
                               {"axis": -1}),
    "blocked": ([f32(2, 6), rng.uniform(0.01, 0.1, (2, 3)).astype(np.float32),
                 rng.integers(-5, 5, (2, 3)).astype(np.int8)], {"axis": 1, "block_size": 2}),
    "blocked ragged": ([f32(5, 2), rng.uniform(0.01, 0.1, (3, 2)).astype(np.float32),
                        rng.integers(0, 9, (3, 2)).astype(np.uint8)],
                       {"axis": 0, "block_size": 2}),
    "float16": ([f32(4, 4).astype(np.float16), np.array(0.05, np.float16), np.int8(3)], {}),
}

DEQUANTIZE_CASES = {
    "int8": ([rng.integers(-128, 128, (2, 3, 4)).astype(np.int8), SCALE, np.int8(-3)], {}),
    "uint8": ([rng.integers(0, 256, (6,)).astype(np.uint8), np.array(0.1, np.float32),
               np.uint8(128)], {}),
    "int32 no zero point": ([rng.integers(-10**6, 10**6, (7,)).astype(np.int32),
                             np.array(1e-3, np.float32)], {}),
    "per axis": ([rng.integers(-128, 128, (3, 2, 2)).astype(np.int8), PER_AXIS,
                  np.array([1, 0, -1], np.int8)], {"axis": 0}),
    "blocked": ([rng.integers(0, 256, (2, 6)).astype(np.uint8),
                 rng.uniform(0.01, 0.1, (2, 3)).astype(np.float32),
                 rng.integers(0, 9, (2, 3)).astype(np.uint8)], {"axis": 1, "block_size": 2}),
    "float16 scale": ([rng.integers(-128, 128, (5,)).astype(np.int8),
                       np.array(0.25, np.float16)], {}),
}


def assert_same(op_type: str, inputs: list, attrs: dict, opset: int) -> None:
    expected = run_ort(op_type, inputs, attrs, opset)
    (shape, dtype), ours = run_ours(op_type, inputs, attrs)
    assert (shape, dtype) == (expected.shape, DType.from_numpy(expected.dtype))
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=0)
    else:
        np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("case", sorted(QUANTIZE_CASES))
def test_quantize_linear_matches_onnxruntime(case):
    inputs, attrs = QUANTIZE_CASES[case]
    assert_same("QuantizeLinear", [np.asarray(a) for a in inputs], attrs, opset=21)


@pytest.mark.parametrize("case", sorted(DEQUANTIZE_CASES))
def test_dequantize_linear_matches_onnxruntime(case):
    inputs, attrs = DEQUANTIZE_CASES[case]
    assert_same("DequantizeLinear", [np.asarray(a) for a in inputs], attrs, opset=21)


def test_quantize_rounds_half_to_even_and_saturates():
    (_, dtype), q = run_ours("QuantizeLinear", [HALVES, np.array(1.0, np.float32), np.int8(0)],
                             {})
    assert dtype == DType.INT8
    assert q.tolist() == [0, 2, 2, 0, -2, -2, 126, 127, 127, -128, -128, 0]


def test_round_trip_is_within_half_a_step():
    x = f32(1000, lo=-1.0, hi=1.0)
    scale, zero = np.array(2.0 / 255, np.float32), np.int8(-1)
    _, q = run_ours("QuantizeLinear", [x, scale, zero], {})
    _, back = run_ours("DequantizeLinear", [q, scale, zero], {})
    assert np.max(np.abs(back - x)) <= scale / 2 + 1e-7


@pytest.mark.parametrize("op_type, inputs, attrs, message", [
    ("QuantizeLinear", [f32(2, 3), PER_AXIS[:2], np.zeros(2, np.int8)], {"axis": 1},
     "per-axis scale must be 1-D of length 3"),
    ("QuantizeLinear", [f32(2, 3), SCALE, np.int32(0)], {}, "cannot quantize to int32"),
    ("QuantizeLinear", [f32(2, 3), SCALE, np.int8(0)], {"output_dtype": 2},
     "output_dtype uint8 differs"),
    ("DequantizeLinear", [np.zeros(3, np.int8), SCALE, np.uint8(0)], {}, "zero point's type"),
    ("DequantizeLinear", [f32(3), SCALE], {}, "cannot dequantize float32"),
    ("DequantizeLinear", [np.zeros((2, 6), np.int8), np.ones((2, 2), np.float32)],
     {"axis": 1, "block_size": 2}, "needs a scale of shape \\[2, 3\\]"),
])
def test_bad_parameters_are_named(op_type, inputs, attrs, message):
    with pytest.raises(ValidationError, match=message):
        run_ours(op_type, inputs, attrs)
