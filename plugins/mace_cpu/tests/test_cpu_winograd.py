"""Winograd convolution (csrc/winograd.c) on the cpu device vs the reference kernel, for
every ISA of this CPU, F(4,3) and F(2,3) forced through ``MACE_CPU_CONV_ALGO``, 1 and 2
threads.

Pass rule: ``max |ours - ref| <= 1e-4 * max |ref|``, ten times the 1e-5 of the direct
algorithms (cpu_helpers.REL_TOL). Winograd sums transformed products whose coefficients
reach 5 (B^T), 8 (A^T) and 1/24 (G) in F(4,3), so rounding errors are amplified about
tenfold: over CASES the measured worst case is 1.4e-5 for F(4,3) (the Clip case, whose
clamp shrinks max |ref|) and 1.1e-6 for F(2,3), against 1.8e-6 for the direct conv on the
same shapes (the same on every x86 ISA). A wrong tap, tile edge or padding row gives errors
of order 1; a bias off by 1e-4 of itself already fails some cases.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpu_helpers import check_node, randn

WINO_REL = 1e-4
TILES = {"winograd43": 4, "winograd23": 2}
RELU6 = {"activation": "Clip", "activation_params": [0.0, 6.0]}

# id: (X shape, W shape, attrs, with bias)
CASES = {
    "odd_pad1": ((1, 5, 13, 11), (7, 5, 3, 3), {"pads": [1, 1, 1, 1]}, True),
    "valid": ((1, 8, 9, 14), (6, 8, 3, 3), {}, False),
    "asym_pads": ((1, 3, 10, 7), (9, 3, 3, 3), {"pads": [2, 0, 0, 1]}, True),
    "asym_pads2": ((1, 17, 6, 19), (5, 17, 3, 3), {"pads": [0, 2, 1, 0]}, True),
    "one_row": ((1, 4, 1, 9), (4, 4, 3, 3), {"pads": [1, 1, 1, 1]}, True),
    "one_col": ((1, 4, 11, 1), (6, 4, 3, 3), {"pads": [1, 1, 1, 1]}, False),
    "tiny_out": ((1, 6, 3, 3), (2, 6, 3, 3), {}, True),
    "relu": ((1, 16, 20, 20), (24, 16, 3, 3), {"pads": [1, 1, 1, 1], "activation": "Relu"},
             True),
    "relu6_K576": ((1, 64, 12, 13), (64, 64, 3, 3), {"pads": [1, 1, 1, 1], **RELU6}, True),
    "clip": ((1, 7, 15, 17), (33, 7, 3, 3), {"pads": [1, 1, 1, 1], "activation": "Clip",
                                             "activation_params": [-0.5, 0.75]}, True),
    "hardswish": ((1, 9, 12, 10), (10, 9, 3, 3), {"pads": [1, 1, 1, 1],
                                                  "activation": "HardSwish"}, True),
    "sigmoid_nobias": ((1, 5, 8, 8), (3, 5, 3, 3), {"activation": "Sigmoid"}, False),
    "batch2": ((2, 12, 14, 15), (20, 12, 3, 3), {"pads": [1, 1, 1, 1], "activation": "Relu"},
               True),
    "batch2_odd": ((2, 3, 7, 9), (5, 3, 3, 3), {"pads": [0, 1, 2, 1]}, False),
    "same_upper": ((1, 6, 9, 10), (8, 6, 3, 3), {"auto_pad": "SAME_UPPER"}, True),
    "group2": ((1, 8, 9, 9), (6, 4, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}, True),
    "group4_batch2": ((2, 12, 10, 11), (8, 3, 3, 3), {"group": 4, "pads": [1, 1, 1, 1],
                                                      **RELU6}, True),
    "wide": ((1, 4, 5, 83), (9, 4, 3, 3), {"pads": [1, 1, 1, 1]}, True),
    "k_blocks": ((1, 300, 6, 7), (17, 300, 3, 3), {"pads": [1, 1, 1, 1]}, True),
    "m_edge": ((1, 24, 9, 9), (37, 24, 3, 3), {"pads": [1, 1, 1, 1]}, True),
}


def conv_inputs(x_shape, w_shape, bias, seed=0):
    """Unit-scale inputs, weights scaled by 1/sqrt(fan-in): outputs are O(1)."""
    rng = np.random.default_rng(seed)
    fan_in = int(np.prod(w_shape[1:]))
    return {
        "x": randn(rng, *x_shape),
        "w": randn(rng, *w_shape, scale=1.0 / np.sqrt(fan_in)),
        "b": randn(rng, w_shape[0]) if bias else None,
    }


def run_case(x_shape, w_shape, attrs, bias, threads, seed=0):
    session = check_node("Conv", conv_inputs(x_shape, w_shape, bias, seed), constants=("w", "b"),
                         attrs=attrs, threads=threads, rel=WINO_REL)
    return session._runners[0].info


@pytest.mark.parametrize("algo", list(TILES))
@pytest.mark.parametrize("case", list(CASES))
def test_winograd_matches_reference(case, algo, isa, threads, monkeypatch):
    monkeypatch.setenv("MACE_CPU_CONV_ALGO", algo)
    info = run_case(*CASES[case], threads)
    assert info["isa"] == isa and info["threads"] == threads
    assert info["algo"] == "winograd" and info["wino_tile"] == TILES[algo]


@pytest.mark.parametrize("shape", [(1, 64, 56, 56), (2, 32, 28, 28), (1, 256, 14, 14),
                                   (1, 512, 7, 7)], ids=lambda s: "x".join(map(str, s)))
def test_resnet_sized_layers(shape, isa, monkeypatch):
    """Many tiles, blocks of tile rows, several K blocks (C = 512 > the GEMM's K block),
    M edge panels and the automatic tile choice, on 2 threads."""
    monkeypatch.setenv("MACE_CPU_CONV_ALGO", "winograd")
    info = run_case(shape, (shape[1], shape[1], 3, 3), {"pads": [1, 1, 1, 1], **RELU6}, True,
                    threads=2, seed=shape[1])
    assert info["algo"] == "winograd"


@pytest.mark.parametrize("x_shape, algo", [((1, 96, 112, 64), "winograd43"),
                                          ((2, 96, 56, 32), "winograd23")])
def test_blocks_of_tile_rows(x_shape, algo, isa, monkeypatch):
    """Images whose V and M would outgrow the 8 MB budget run in blocks of tile rows (here
    18 + 10 rows, and 40 + 16 with a block edge inside the second image)."""
    monkeypatch.setenv("MACE_CPU_CONV_ALGO", algo)
    info = run_case(x_shape, (96, 96, 3, 3), {"pads": [1, 1, 1, 1], "activation": "Relu"},
                    True, threads=2, seed=7)
    assert info["wino_tile"] == TILES[algo]


@given(
    c=st.integers(1, 20), m=st.integers(1, 20), h=st.integers(1, 17), w=st.integers(1, 17),
    pads=st.tuples(*[st.integers(0, 2)] * 4), group=st.sampled_from([1, 2]),
    batch=st.integers(1, 2), algo=st.sampled_from(list(TILES)),
    act=st.sampled_from(["", "Relu", "Tanh"]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_winograd_random_geometry(c, m, h, w, pads, group, batch, algo, act):
    if h + pads[0] + pads[2] < 3 or w + pads[1] + pads[3] < 3:
        return  # the window does not fit: an invalid model, not a kernel case
    c, m = c * group, m * group
    attrs = {"pads": list(pads), "group": group, "activation": act}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MACE_CPU_CONV_ALGO", algo)
        info = run_case((batch, c, h, w), (m, c // group, 3, 3), attrs, True, threads=2,
                        seed=c * h + w)
    assert info["algo"] == ("winograd" if c // group > 1 else "depthwise")


def algo_of(x_shape, w_shape, attrs, monkeypatch, forced=None):
    if forced is None:
        monkeypatch.delenv("MACE_CPU_CONV_ALGO", raising=False)
    else:
        monkeypatch.setenv("MACE_CPU_CONV_ALGO", forced)
    return run_case(x_shape, w_shape, attrs, True, threads=1)


@pytest.mark.parametrize("attrs, w_shape", [
    ({"strides": [2, 2], "pads": [1, 1, 1, 1]}, (8, 8, 3, 3)),
    ({"dilations": [2, 2], "pads": [2, 2, 2, 2]}, (8, 8, 3, 3)),
    ({"pads": [2, 2, 2, 2]}, (8, 8, 5, 5)),
    ({"pads": [0, 1, 0, 1]}, (8, 8, 1, 3)),
])
def test_forcing_winograd_where_it_does_not_apply(attrs, w_shape, monkeypatch):
    info = algo_of((1, 8, 16, 16), w_shape, attrs, monkeypatch, forced="winograd")
    assert info["algo"] != "winograd"


def test_automatic_choice(isa, monkeypatch):
    """The cost model, on every ISA: Winograd for the ResNet-50 3x3 layers (F(4,3) where
    there are many tiles, F(2,3) at 7x7, where F(4,3)'s 4 tiles would fill a quarter of
    the GEMM's vectors), the direct conv for layers too small to pay for the transforms;
    "shifted" forced turns it off."""
    pads = {"pads": [1, 1, 1, 1]}
    for size, channels, tile in ((56, 64, 4), (14, 256, 4), (7, 512, 2)):
        info = algo_of((1, channels, size, size), (channels, channels, 3, 3), pads,
                       monkeypatch)
        assert (info["algo"], info.get("wino_tile")) == ("winograd", tile), size
    assert algo_of((1, 2, 4, 4), (2, 2, 3, 3), pads, monkeypatch)["algo"] == "shifted"
    info = algo_of((1, 64, 56, 56), (64, 64, 3, 3), pads, monkeypatch, forced="shifted")
    assert info["algo"] == "shifted"
