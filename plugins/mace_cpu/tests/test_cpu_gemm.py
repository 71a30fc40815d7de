"""Gemm and MatMul on the cpu device vs the reference kernels, every ISA, 1 / 2 threads.
Pass rule: max |ours - ref| <= 1e-5 * max |ref| (cpu_helpers.assert_rel_close)."""

from __future__ import annotations

import numpy as np
import pytest

from cpu_helpers import check_node, node_graph, placed_device, randn

# id: (M, N, K, transA, transB, C shape or None, alpha, beta, B constant)
GEMM_CASES = {
    "fc_batch1": (1, 10, 64, 0, 1, (10,), 1.0, 1.0, True),
    "fc_batch3_odd": (3, 37, 29, 0, 1, (1, 37), 1.0, 1.0, True),
    "square_no_c": (64, 64, 64, 0, 0, None, 1.0, 1.0, True),
    "edges_all": (13, 45, 300, 0, 0, (13, 45), 1.0, 1.0, True),
    "transA": (9, 20, 17, 1, 0, (9, 1), 1.0, 1.0, True),
    "transA_transB": (11, 7, 33, 1, 1, (1,), 1.0, 1.0, True),
    "alpha_beta": (8, 40, 16, 0, 1, (40,), 0.5, -2.0, True),
    "beta0": (5, 6, 7, 0, 0, (5, 6), 1.0, 0.0, True),
    "runtime_B": (12, 33, 20, 0, 1, (33,), 1.0, 1.0, False),
    "runtime_B_full_c": (7, 19, 40, 1, 0, (7, 19), 2.0, 0.5, False),
    "big": (70, 130, 520, 0, 1, (130,), 1.0, 1.0, True),
    "rows13_cols150": (13, 150, 70, 0, 1, (150,), 1.0, 1.0, True),  # 5 slivers, 2 row tiles
}


def gemm_inputs(case, seed=0):
    m, n, k, ta, tb, c_shape, _, _, _ = GEMM_CASES[case]
    rng = np.random.default_rng(seed)
    return {
        "a": randn(rng, *((k, m) if ta else (m, k))),
        "b": randn(rng, *((n, k) if tb else (k, n)), scale=1 / np.sqrt(k)),
        "c": randn(rng, *c_shape) if c_shape else None,
    }


@pytest.mark.parametrize("case", list(GEMM_CASES))
def test_gemm_matches_reference(case, isa, threads):
    _, _, _, ta, tb, _, alpha, beta, b_const = GEMM_CASES[case]
    constants = ("b", "c") if b_const else ()
    session = check_node("Gemm", gemm_inputs(case), constants=constants, threads=threads,
                         attrs={"transA": ta, "transB": tb, "alpha": alpha, "beta": beta})
    assert session._runners[0].info["packed_b"] == b_const


@pytest.mark.parametrize("activation, params", [
    ("Relu", []), ("Clip", [-0.3, 0.4]), ("LeakyRelu", [0.2]), ("Sigmoid", []), ("Tanh", []),
    ("HardSigmoid", [0.25, 0.4]), ("HardSwish", []),
])
@pytest.mark.parametrize("case", ["fc_batch3_odd", "alpha_beta", "edges_all", "rows13_cols150"])
def test_gemm_fused_activation(case, activation, params, isa, threads):
    _, _, _, ta, tb, _, alpha, beta, _ = GEMM_CASES[case]
    attrs = {"transA": ta, "transB": tb, "alpha": alpha, "beta": beta,
             "activation": activation, "activation_params": params}
    check_node("Gemm", gemm_inputs(case, seed=1), constants=("b", "c"), attrs=attrs,
               threads=threads)


@pytest.mark.parametrize("a_shape, b_shape, b_const", [
    ((4, 16), (16, 24), True),
    ((1, 1000), (1000, 10), True),
    ((1, 263), (263, 45), True),        # one row: K blocks 256 + 7 (4 steps at a time + 3)
    ((1, 1027), (1027, 70), True),      # 4 blocks of 256 + 3
    ((2, 5, 33), (33, 17), True),       # batch axes of A fold into M
    ((3, 2, 4, 9), (9, 31), False),
    ((9, 8), (8, 65), False),
])
def test_matmul_matches_reference(a_shape, b_shape, b_const, isa, threads):
    rng = np.random.default_rng(2)
    inputs = {"a": randn(rng, *a_shape), "b": randn(rng, *b_shape, scale=0.2)}
    check_node("MatMul", inputs, constants=("b",) if b_const else (), threads=threads,
               attrs={"activation": "Relu"})


@pytest.mark.parametrize("a_shape, b_shape", [
    ((2, 3, 4), (2, 4, 5)),          # same batch
    ((1, 8, 40, 15), (1, 8, 15, 40)),  # attention: Q K^T
    ((3, 1, 5, 7), (4, 7, 6)),       # broadcast batch axes on both sides
    ((5, 7), (3, 7, 2)),             # A without batch axes
    ((2, 33, 65), (2, 65, 34)),      # edge tiles, several K steps
])
def test_batched_matmul(a_shape, b_shape, isa, threads):
    rng = np.random.default_rng(8)
    session = check_node("MatMul", {"a": randn(rng, *a_shape), "b": randn(rng, *b_shape)},
                         threads=threads)
    assert session._runners[0].info["batch"] >= 1


def test_unsupported_matmul_and_gemm_go_to_reference():
    rng = np.random.default_rng(0)
    vector_b = node_graph("MatMul", {"a": randn(rng, 2, 3, 4), "b": randn(rng, 4)})
    vector_a = node_graph("MatMul", {"a": randn(rng, 4), "b": randn(rng, 4, 5)})
    half = node_graph("Gemm", {"a": randn(rng, 3, 4).astype(np.float16),
                               "b": randn(rng, 4, 5).astype(np.float16)})
    for graph in (vector_b, vector_a, half):
        assert placed_device(graph, ["cpu", "reference"]) == ["reference"]
    scalar_c = node_graph("Gemm", {"a": randn(rng, 3, 4), "b": randn(rng, 4, 5),
                                   "c": randn(rng, 1, 1)})
    assert placed_device(scalar_c, ["cpu", "reference"]) == ["cpu"]
