"""MatMulInteger and QLinearMatMul on the cpu device (the int8 GEMM of gemm_int8.c) vs the
reference kernels, every ISA this CPU supports (each with its int8 path: scalar, avx2,
avx512 -> avx512vnni where the CPU has it), 1 and 2 threads.

Pass rule: exact equality. The GEMM is exact integer arithmetic; QLinearMatMul's
requantization runs the reference's own function on the int32 product (multiplier in the
scales' type, product in float64), so it is exact too, not just within one step.
"""

from __future__ import annotations

import numpy as np
import pytest
from mace_core.runtime.model import Model

import mace_cpu
from mace_cpu.native import cpu_features

from cpu_helpers import feeds_of, node_graph, placed_device

# (A shape, N): M, N, K off the tile sizes (4/6/8 rows, 8/32 columns, 4 k per group)
SHAPES = [((1, 1), 1), ((7, 5), 13), ((33, 131), 70), ((64, 64), 64), ((2, 3, 17, 40), 35),
          ((9, 300), 33)]
TYPES = [(np.uint8, np.uint8), (np.int8, np.int8), (np.uint8, np.int8), (np.int8, np.uint8)]


def expected_path(isa: str) -> str:
    if isa == "avx512":
        return "avx512vnni" if "avx512vnni" in cpu_features() else "avx2"
    return {"neon": "neon"}.get(isa, isa)  # neon: neondot where the CPU has sdot


def quant(rng, dtype, *shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


def run_both(op, inputs, constants, threads):
    """(cpu output, reference output, the cpu kernel's info) of one node."""
    graph = node_graph(op, inputs, constants=constants)
    feeds = feeds_of(graph, inputs)
    session = Model(graph).session(["cpu"], cpu_threads=threads)
    ours = session.run(feeds)[graph.outputs[0]]
    ref = Model(graph).session(["reference"]).run(feeds)[graph.outputs[0]]
    return ours, ref, session._runners[0].info


@pytest.mark.parametrize("a_shape, n", SHAPES, ids=[f"{a}x{n}" for a, n in SHAPES])
@pytest.mark.parametrize("ta, tb", TYPES, ids=["u8u8", "s8s8", "u8s8", "s8u8"])
@pytest.mark.parametrize("zero_points", ["none", "tensor", "row_col"])
def test_matmul_integer_matches_reference(isa, threads, a_shape, n, ta, tb, zero_points):
    rng = np.random.default_rng(sum(a_shape) + n)
    m, k = a_shape[-2], a_shape[-1]
    a, b = quant(rng, ta, *a_shape), quant(rng, tb, k, n)
    za = zb = None
    if zero_points == "tensor":
        za, zb = quant(rng, ta, 1), quant(rng, tb, 1)
    elif zero_points == "row_col":  # per row of A: only for a 2-D A
        za = quant(rng, ta, m) if len(a_shape) == 2 else quant(rng, ta)
        zb = quant(rng, tb, n)
    inputs = {"a": a, "b": b, "za": za, "zb": zb}
    ours, ref, info = run_both("MatMulInteger", inputs, ("b", "zb"), threads)
    assert info["int8_path"] == expected_path(isa)
    assert ours.dtype == np.int32 and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("ta, tb", TYPES, ids=["u8u8", "s8s8", "u8s8", "s8u8"])
def test_extreme_values_do_not_saturate(isa, ta, tb):
    """Products at the ends of the ranges over a long K: a kernel summing byte pairs in
    int16 (vpmaddubsw) would saturate here."""
    k, n = 1030, 40
    lo_a, hi_a = np.iinfo(ta).min, np.iinfo(ta).max
    lo_b = np.iinfo(tb).min
    a = np.array([[hi_a] * k, [lo_a] * k, [hi_a, lo_a] * (k // 2)], ta)
    b = np.full((k, n), lo_b, tb)
    b[:, ::2] = np.iinfo(tb).max
    ours, ref, _ = run_both("MatMulInteger", {"a": a, "b": b}, ("b",), 1)
    np.testing.assert_array_equal(ours, ref)
    assert np.abs(ref.astype(np.int64)).max() > 2**15 * 4  # far beyond int16 pair sums


@pytest.mark.parametrize("a_shape, n", SHAPES[1:], ids=[f"{a}x{n}" for a, n in SHAPES[1:]])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("scale_dtype", [np.float32, np.float16])
def test_qlinear_matmul_matches_reference(isa, threads, a_shape, n, dtype, scale_dtype):
    rng = np.random.default_rng(n)
    k = a_shape[-1]
    a, b = quant(rng, dtype, *a_shape), quant(rng, dtype, k, n)
    scales = [np.array(v, scale_dtype) for v in (0.02, 0.011, 0.5 * np.sqrt(k))]
    za, zb, zy = quant(rng, dtype, 1), quant(rng, dtype, n), quant(rng, dtype, 1)
    inputs = {"a": a, "sa": scales[0], "za": za, "b": b, "sb": scales[1], "zb": zb,
              "sy": scales[2], "zy": zy}
    ours, ref, info = run_both("QLinearMatMul", inputs, ("b", "sb", "zb"), threads)
    assert info["int8_path"] == expected_path(isa)
    assert ours.dtype == dtype
    assert len(np.unique(ref)) > 10  # the output spreads over many steps
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("per_row, per_col", [(False, False), (True, True)])
def test_qlinear_matmul_constant_scales(isa, per_row, per_col):
    """Scales that are constants: the multiplier is formed once, at prepare."""
    rng = np.random.default_rng(7)
    m, k, n = 6, 40, 24
    a, b = quant(rng, np.uint8, 2, m, k), quant(rng, np.int8, k, n)
    sa = rng.uniform(0.01, 0.03, m if per_row else 1).astype(np.float32)
    sb = rng.uniform(0.005, 0.02, n if per_col else 1).astype(np.float32)
    inputs = {"a": a, "sa": sa.reshape(-1) if per_row else sa.reshape(()),
              "za": quant(rng, np.uint8, 1), "b": b,
              "sb": sb.reshape(-1) if per_col else sb.reshape(()), "zb": quant(rng, np.int8, 1),
              "sy": np.array(0.4, np.float32), "zy": quant(rng, np.uint8, 1)}
    graph = node_graph("QLinearMatMul", inputs, constants=("b", "sa", "sb", "zb", "sy"))
    ours = Model(graph).session(["cpu"], cpu_threads=2)
    reference = Model(graph).session(["reference"])
    for seed in range(2):  # a second run reuses the multiplier and the int32 buffer
        feeds = feeds_of(graph, {**inputs, "a": quant(np.random.default_rng(seed), np.uint8,
                                                      2, m, k)})
        got, ref = ours.run(feeds)[graph.outputs[0]], reference.run(feeds)[graph.outputs[0]]
        np.testing.assert_array_equal(got, ref)
        assert len(np.unique(ref)) > 10


def test_isa_from_environment_picks_the_int8_path(monkeypatch):
    """MACE_CPU_ISA chooses the ISA, and with it the int8 path, of newly prepared kernels."""
    rng = np.random.default_rng(5)
    a, b = quant(rng, np.uint8, 10, 50), quant(rng, np.int8, 50, 20)
    for isa in mace_cpu.supported_isas():
        monkeypatch.setenv("MACE_CPU_ISA", isa)
        ours, ref, info = run_both("MatMulInteger", {"a": a, "b": b}, ("b",), 2)
        assert (info["isa"], info["int8_path"]) == (isa, expected_path(isa))
        np.testing.assert_array_equal(ours, ref)


def test_unsupported_layouts_fall_back_to_reference():
    rng = np.random.default_rng(6)
    a, b = quant(rng, np.uint8, 4, 6), quant(rng, np.uint8, 6, 3)
    runtime_b = node_graph("MatMulInteger", {"a": a, "b": b})
    assert placed_device(runtime_b, ["cpu", "reference"]) == ["reference"]
    batched_b = node_graph("MatMulInteger", {"a": a, "b": quant(rng, np.uint8, 2, 6, 3)},
                           constants=("b",))
    assert placed_device(batched_b, ["cpu", "reference"]) == ["reference"]
    const_b = node_graph("MatMulInteger", {"a": a, "b": b}, constants=("b",))
    assert placed_device(const_b, ["cpu", "reference"]) == ["cpu"]


def test_device_reports_the_int8_path():
    from mace_core.registry import default_registry

    details = default_registry().probe("cpu").details
    assert details["int8_dot"].split(" (")[0] == expected_path(mace_cpu.isa())


@pytest.mark.parametrize("signed", [True, False])
def test_requantize_matches_the_reference_at_ties_and_limits(signed):
    """mc_requantize against mace_core's requantize: halves round to even, the int32 extremes
    and a NaN multiplier saturate, per-row x per-column multipliers cycle over batches."""
    from mace_core.ops.quantized_gemm import requantize

    from mace_cpu import native
    from mace_cpu.kernels.qgemm import multiplier

    ffi, lib = native.load()
    m, n, batches = 3, 7, 2
    acc = np.array([1, 3, 5, -1, -3, 7, 2**31 - 1] * (batches * m), np.int32).reshape(
        batches, m, n)
    acc[1, 2, :2] = [-2**31, 255]
    a = np.zeros((batches, m, 4), np.int8 if signed else np.uint8)
    a_scale = np.array([0.5, 1.0, 2.0], np.float32)
    b_scale = np.array([1, 1, 1, 1, 1, 1, 0.25], np.float32)
    y_zero = np.int8(-1) if signed else np.uint8(3)
    expected = requantize(acc, a, a_scale, b_scale, np.float32(1.0), y_zero)
    mult = multiplier(a, a_scale, b_scale, np.float32(1.0), m, n)
    got = np.empty_like(expected)
    status = lib.mc_requantize(ffi.cast("int *", ffi.from_buffer(acc)), batches * m, m, n,
                               ffi.cast("double *", ffi.from_buffer(mult)), m, n,
                               float(y_zero), int(signed), ffi.from_buffer(got))
    assert status == 0
    np.testing.assert_array_equal(got, expected)
    nan = np.full((1, 1), np.nan)
    status = lib.mc_requantize(ffi.cast("int *", ffi.from_buffer(acc)), 1, 1, n,
                               ffi.cast("double *", ffi.from_buffer(nan)), 1, 1, 0.0,
                               int(signed), ffi.from_buffer(got))
    assert status == 0 and (got.reshape(-1)[:n] == (-128 if signed else 0)).all()
