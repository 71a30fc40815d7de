"""MatMulInteger / QLinearMatMul: reference kernels and shape/dtype inference against
onnxruntime on one-node models (per tensor and per row / column zero points, int8/uint8
combinations, batched broadcasting)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from mace_core.dtypes import DType  # noqa: E402
from mace_core.errors import ValidationError  # noqa: E402
from mace_core.ir import Node, TensorDesc  # noqa: E402
from mace_core.ops.quantized_gemm import OPS  # noqa: E402
from mace_core.schema import InferContext  # noqa: E402

from .test_ops_quantize import run_ort  # noqa: E402

BY_NAME = {op.schema.op_type: op for op in OPS}
rng = np.random.default_rng(11)


def run_ours(op_type: str, inputs: list):
    """Our (inferred (shape, dtype), kernel output) for one node (None: input left out)."""
    op = BY_NAME[op_type]
    node = Node("n", op_type, [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)],
                ["y"], {})
    op.schema.check_arity(node)
    resolved = op.schema.resolve_attrs(node)
    descs = [TensorDesc(f"x{i}", DType.from_numpy(a.dtype), a.shape) if a is not None else None
             for i, a in enumerate(inputs)]
    (spec,) = op.schema.infer(InferContext(node, descs, [None] * len(inputs), resolved))
    return spec, op.reference(*inputs, **resolved)


def q(dtype, *shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


@pytest.mark.parametrize("ta, tb", [(np.uint8, np.uint8), (np.int8, np.int8),
                                    (np.uint8, np.int8)])
@pytest.mark.parametrize("a_shape, b_shape", [((5, 7), (7, 3)), ((2, 4, 6), (6, 5)),
                                              ((3, 1, 4, 6), (2, 6, 5))])
def test_matmul_integer_matches_onnxruntime(ta, tb, a_shape, b_shape):
    a, b = q(ta, *a_shape), q(tb, *b_shape)
    za, zb = q(ta, 1), q(tb, 1)
    (shape, dtype), ours = run_ours("MatMulInteger", [a, b, za, zb])
    ref = run_ort("MatMulInteger", [a, b, za, zb], {}, 10)
    assert ours.dtype == np.int32 and dtype.numpy == np.int32 and shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


def test_matmul_integer_per_row_and_column_zero_points():
    a, b = q(np.uint8, 4, 9), q(np.int8, 9, 6)
    za, zb = q(np.uint8, 4), q(np.int8, 6)
    _, ours = run_ours("MatMulInteger", [a, b, za, zb])
    want = (a.astype(np.int64) - za[:, None]) @ (b.astype(np.int64) - zb[None, :])
    np.testing.assert_array_equal(ours, want)
    _, no_zp = run_ours("MatMulInteger", [a, b])
    np.testing.assert_array_equal(no_zp, run_ort("MatMulInteger", [a, b], {}, 10))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("a_shape, b_shape", [((6, 33), (33, 10)), ((2, 3, 16), (16, 4))])
def test_qlinear_matmul_matches_onnxruntime(dtype, a_shape, b_shape):
    a, b = q(dtype, *a_shape), q(dtype, *b_shape)
    sa, sb, sy = (np.array(v, np.float32) for v in (0.02, 0.015, 0.37))
    za, zb, zy = q(dtype, 1), q(dtype, 1), q(dtype, 1)
    inputs = [a, sa, za, b, sb, zb, sy, zy]
    (shape, out), ours = run_ours("QLinearMatMul", inputs)
    ref = run_ort("QLinearMatMul", inputs, {}, 10)
    assert ours.dtype == dtype and out.numpy == dtype and shape == ref.shape
    # onnxruntime requantizes in float32 (acc * multiplier), the reference in float64:
    # a value on a rounding boundary may land one step apart.
    assert np.abs(ours.astype(np.int32) - ref.astype(np.int32)).max() <= 1


def test_inference_rejects_bad_inputs():
    a, b = q(np.uint8, 4, 5), q(np.uint8, 5, 3)
    with pytest.raises(ValidationError, match="inner dimensions"):
        run_ours("MatMulInteger", [a, q(np.uint8, 4, 3)])
    with pytest.raises(ValidationError, match="differs"):
        run_ours("MatMulInteger", [a, b, q(np.int8, 1)])
    with pytest.raises(ValidationError, match="1 or 3 values"):
        run_ours("MatMulInteger", [a, b, None, q(np.uint8, 2)])
    with pytest.raises(ValidationError, match="int8 or uint8"):
        run_ours("MatMulInteger", [a.astype(np.float32), b])
