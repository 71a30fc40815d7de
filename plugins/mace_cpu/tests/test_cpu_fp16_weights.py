"""fp16 weights in the cpu plans (``cpu_weight_dtype="float16"``): the conversions, then
Gemm / MatMul / Conv against the reference run with the weights rounded to fp16, on every
ISA selected through MACE_CPU_ISA, 1 and 2 threads. Pass rule as everywhere:
max |ours - ref| <= 1e-5 * max |ref| (only the weights are rounded; arithmetic is fp32)."""

from __future__ import annotations

import numpy as np
import pytest
from mace_core.errors import MaceError
from mace_core.ir import Graph
from mace_core.model_format import save_model
from mace_core.runtime.model import Model, load

from mace_cpu import native

from cpu_helpers import assert_rel_close, node_graph, randn, supported_isas

ISA_NAMES = list(native.ISA_NAMES)


SUPPORTED_ISAS = supported_isas()


@pytest.fixture(params=SUPPORTED_ISAS or [pytest.param("none", marks=pytest.mark.skip(
    reason="mace_cpu._native is not built: pip install -e plugins/mace_cpu"))])
def env_isa(request, monkeypatch) -> str:
    """Each ISA this CPU supports, chosen the way users do: MACE_CPU_ISA."""
    monkeypatch.setenv(native.ENV_VAR, request.param)
    assert native.isa() == request.param
    return request.param


def rounded(graph: Graph, names) -> Graph:
    """A copy of ``graph`` whose constants ``names`` are rounded to fp16 (kept float32)."""
    constants = dict(graph.constants)
    for name in names:
        constants[name] = constants[name].astype(np.float16).astype(np.float32)
    return Graph(graph.name, list(graph.nodes), list(graph.inputs), list(graph.outputs),
                 dict(graph.tensors), constants, dict(graph.metadata))


def check_fp16(graph: Graph, feeds, weight: str, threads: int, expect_f16: bool = True):
    """cpu with fp16 weights vs the reference with rounded weights; returns the fp16 and
    fp32 runners' info."""
    half = Model(graph).session(["cpu"], cpu_threads=threads, cpu_weight_dtype="float16")
    full = Model(graph).session(["cpu"], cpu_threads=threads)
    ours = half.run(feeds)[graph.outputs[0]]
    ref = Model(rounded(graph, [weight] if expect_f16 else [])).session(["reference"]).run(
        feeds)[graph.outputs[0]]
    assert_rel_close(ours, ref)
    info16, info32 = half._runners[0].info, full._runners[0].info
    assert info16["weight_dtype"] == ("float16" if expect_f16 else "float32")
    assert info32["weight_dtype"] == "float32"
    return info16, info32


# -- conversions ----------------------------------------------------------------------------
def test_half_to_float_is_exact_for_every_value(env_isa):
    ffi, lib = native.load()
    bits = np.arange(1 << 16, dtype=np.uint16)
    for start, stop in ((0, 1 << 16), (1, (1 << 16) - 5)):  # aligned; odd offset and tail
        src = np.ascontiguousarray(bits[start:stop])
        out = np.full(src.size, np.nan, np.float32)
        lib.mc_half_to_float(ISA_NAMES.index(env_isa), ffi.from_buffer("unsigned short[]", src),
                             ffi.from_buffer("float[]", out), src.size)
        ref = src.view(np.float16).astype(np.float32)
        nan = np.isnan(ref)
        assert np.array_equal(np.isnan(out), nan)
        assert np.array_equal(out[~nan].view(np.uint32), ref[~nan].view(np.uint32))


def test_float_to_half_rounds_to_nearest_even_like_numpy():
    ffi, lib = native.load()
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.standard_normal(20000).astype(np.float32) * 10.0 ** rng.integers(-9, 6, 20000),
        np.float16(rng.standard_normal(500)).astype(np.float32),  # exact values
        np.array([0.0, -0.0, 65504, 65519.99, 65520, -65520, 1e6, np.inf, -np.inf, np.nan,
                  2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26, 2.0 ** -14 - 2.0 ** -26, 1 + 2.0 ** -11,
                  1 + 3 * 2.0 ** -11, 1e-45], np.float32),
    ]).astype(np.float32)
    out = np.zeros(x.size, np.uint16)
    lib.mc_float_to_half(ffi.from_buffer("float[]", x), ffi.from_buffer("unsigned short[]", out),
                         x.size)
    with np.errstate(over="ignore"):  # 65520 and up become inf, as intended
        ref = x.astype(np.float16)
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(out.view(np.float16)), nan)
    assert np.array_equal(out[~nan], ref.view(np.uint16)[~nan])


# -- Gemm / MatMul ----------------------------------------------------------------------------
# id: (M, N, K, transB, C shape or None, activation): few rows (the skinny kernel on AVX-512),
# several K blocks, N and M edges, transposed B, full C
GEMM_CASES = {
    "fc_batch1": (1, 10, 64, 1, (10,), ""),
    "fc_wide": (3, 700, 257, 0, (700,), "Relu"),
    "rows_edges": (13, 45, 300, 0, (13, 45), "Tanh"),
    "many_k_blocks": (40, 70, 600, 1, (70,), ""),
    "big_rows": (70, 130, 520, 1, None, "Relu"),
}


@pytest.mark.parametrize("case", list(GEMM_CASES))
def test_gemm_fp16_weights_match_rounded_reference(case, env_isa, threads):
    m, n, k, tb, c_shape, act = GEMM_CASES[case]
    rng = np.random.default_rng(1)
    inputs = {"a": randn(rng, m, k), "w": randn(rng, *((n, k) if tb else (k, n)), scale=0.1),
              "c": randn(rng, *c_shape) if c_shape else None}
    graph = node_graph("Gemm", inputs, constants=("w", "c"),
                       attrs={"transB": tb, "activation": act})
    info16, info32 = check_fp16(graph, {"a": inputs["a"]}, "w", threads)
    assert info16["weight_bytes"] * 2 == info32["weight_bytes"] >= 4 * n * k


def test_matmul_fp16_weights_match_rounded_reference(env_isa, threads):
    rng = np.random.default_rng(2)
    inputs = {"a": randn(rng, 2, 5, 96), "w": randn(rng, 96, 33, scale=0.1)}
    graph = node_graph("MatMul", inputs, constants=("w",))
    check_fp16(graph, {"a": inputs["a"]}, "w", threads)


# -- Conv -----------------------------------------------------------------------------------
# id: (x shape, w shape, attrs): 1x1 on NCHW, pixels as rows (AVX-512; from a built column
# matrix for the 1-D case), shifted, im2col, groups
CONV_CASES = {
    "pointwise": ((1, 16, 9, 10), (24, 16, 1, 1), {"activation": "Relu"}),
    "pointwise_small_image": ((2, 600, 1, 1), (40, 600, 1, 1), {}),
    "pointwise_7x7": ((1, 64, 7, 7), (96, 64, 1, 1), {"activation": "Clip",
                                                      "activation_params": [0.0, 6.0]}),
    "shifted_3x3": ((1, 8, 11, 12), (12, 8, 3, 3), {"pads": [1, 1, 1, 1]}),
    "im2col_stride2": ((1, 3, 17, 15), (16, 3, 3, 3), {"pads": [1, 1, 1, 1],
                                                       "strides": [2, 2]}),
    "groups": ((2, 8, 9, 9), (8, 2, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),
    "deep_k": ((1, 300, 4, 4), (70, 300, 1, 1), {"activation": "Sigmoid"}),
    "1d_few_frames": ((1, 129, 4), (128, 129, 3), {"pads": [1, 1], "activation": "Relu"}),
}


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv_fp16_weights_match_rounded_reference(case, env_isa, threads, monkeypatch):
    monkeypatch.setenv("MACE_CPU_CONV_ALGO", "shifted")  # 3x3 stride 1: not Winograd here
    x_shape, w_shape, attrs = CONV_CASES[case]
    rng = np.random.default_rng(3)
    inputs = {"x": randn(rng, *x_shape), "w": randn(rng, *w_shape, scale=0.3),
              "b": randn(rng, w_shape[0])}
    graph = node_graph("Conv", inputs, constants=("w", "b"), attrs=attrs)
    info16, info32 = check_fp16(graph, {"x": inputs["x"]}, "w", threads)
    assert info16["algo"] == info32["algo"]
    assert info16["weight_bytes"] * 2 == info32["weight_bytes"] >= 4 * np.prod(w_shape)


def test_winograd_conv_keeps_fp32_weights(env_isa, monkeypatch):
    """Winograd plans hold transformed weights (not fp16 values): they stay fp32, made
    from the fp16-rounded weights like every plan under cpu_weight_dtype="float16"."""
    monkeypatch.setenv("MACE_CPU_CONV_ALGO", "winograd")
    rng = np.random.default_rng(6)
    inputs = {"x": randn(rng, 1, 16, 12, 12), "w": randn(rng, 16, 16, 3, 3, scale=0.3),
              "b": randn(rng, 16)}
    graph = node_graph("Conv", inputs, constants=("w", "b"), attrs={"pads": [1, 1, 1, 1]})
    half = Model(graph).session(["cpu"], cpu_weight_dtype="float16")
    ours = half.run({"x": inputs["x"]})[graph.outputs[0]]
    ref = Model(rounded(graph, ["w"])).session(["reference"]).run({"x": inputs["x"]})[
        graph.outputs[0]]
    assert_rel_close(ours, ref, 1e-4)  # the Winograd rule (test_cpu_winograd.py)
    info = half._runners[0].info
    assert info["algo"] == "winograd" and info["weight_dtype"] == "float32"
    assert info["weight_bytes"] >= 4 * 16 * 16 * 16  # U: a 6x6 or 4x4 tile per filter


def test_depthwise_conv_keeps_fp32_weights(env_isa):
    rng = np.random.default_rng(4)
    inputs = {"x": randn(rng, 1, 8, 14, 13), "w": randn(rng, 8, 1, 3, 3), "b": randn(rng, 8)}
    graph = node_graph("Conv", inputs, constants=("w", "b"), attrs={"group": 8,
                                                                    "pads": [1, 1, 1, 1]})
    info16, info32 = check_fp16(graph, {"x": inputs["x"]}, "w", 1, expect_f16=False)
    assert info16["algo"] == "depthwise" and info16["weight_bytes"] == info32["weight_bytes"]


def test_weights_beyond_fp16_range_stay_fp32():
    rng = np.random.default_rng(5)
    w = randn(rng, 32, 16)
    w[3, 4] = 1e5
    inputs = {"a": randn(rng, 4, 32), "w": w}
    graph = node_graph("MatMul", inputs, constants=("w",))
    check_fp16(graph, {"a": inputs["a"]}, "w", 1, expect_f16=False)


def test_unknown_weight_dtype_is_an_error():
    rng = np.random.default_rng(6)
    graph = node_graph("MatMul", {"a": randn(rng, 2, 8), "w": randn(rng, 8, 4)},
                       constants=("w",))
    with pytest.raises(MaceError, match="cpu_weight_dtype must be one of float32, float16"):
        Model(graph).session(["cpu"], cpu_weight_dtype="bfloat16")


# -- models stored with fp16 weights ----------------------------------------------------------
def small_net(rng) -> Graph:
    """Conv 3x3 -> depthwise 3x3 -> 1x1 -> global pool -> Gemm: every weight kind."""
    from mace_core.dtypes import DType
    from mace_core.ir import Node, TensorDesc
    from mace_core.registry import default_registry
    from mace_core.shape_inference import infer_shapes

    g = Graph("fp16net")
    g.inputs, g.outputs = ["x"], ["y"]
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (1, 3, 20, 20))
    for name, shape in (("w1", (16, 3, 3, 3)), ("w2", (16, 1, 3, 3)), ("w3", (32, 16, 1, 1)),
                        ("fc", (10, 32))):
        g.add_constant(name, randn(rng, *shape, scale=0.3))
    g.add_constant("bias", randn(rng, 10))
    relu = {"activation": "Relu"}
    g.nodes = [
        Node("c1", "Conv", ["x", "w1"], ["t1"], {"pads": [1, 1, 1, 1], "strides": [2, 2], **relu}),
        Node("c2", "Conv", ["t1", "w2"], ["t2"], {"group": 16, "pads": [1, 1, 1, 1], **relu}),
        Node("c3", "Conv", ["t2", "w3"], ["t3"], relu),
        Node("gap", "GlobalAveragePool", ["t3"], ["t4"]),
        Node("flat", "Flatten", ["t4"], ["t5"]),
        Node("fc", "Gemm", ["t5", "fc", "bias"], ["y"], {"transB": 1}),
    ]
    infer_shapes(g, default_registry())
    return g


def test_model_stored_as_fp16_keeps_fp16_plans_without_changing_results(tmp_path, env_isa):
    rng = np.random.default_rng(7)
    paths = save_model(small_net(rng), tmp_path, weights="fp16")
    model = load(paths.pb)
    assert model.weight_storage == "fp16"
    assert model.default_options["cpu_weight_dtype"] == "float16"
    x = {"x": randn(rng, 1, 3, 20, 20)}
    stored = model.session(["cpu"], cpu_threads=2)
    widened = model.session(["cpu"], cpu_threads=2, cpu_weight_dtype="float32")
    dtypes = {step.node.name: r.info.get("weight_dtype")
              for step, r in zip(stored.placement.steps, stored._runners, strict=True)}
    assert dtypes == {"c1": "float16", "c2": "float32", "c3": "float16", "gap": None,
                      "flat": None, "fc": "float16"}
    assert all(r.info.get("weight_dtype") in ("float32", None) for r in widened._runners)
    # the file's weights are fp16 values already: keeping them fp16 changes nothing
    assert np.array_equal(stored.run(x)["y"], widened.run(x)["y"])
