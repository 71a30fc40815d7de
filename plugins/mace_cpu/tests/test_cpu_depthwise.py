"""Depthwise 3x3 stride 2 (the row kernels of csrc/depthwise*.c) on generated shapes: odd
and even sizes, widths around the 16- and 32-column vector edges, every padding the rows
kernel meets (none, TF's [0, 0, 1, 1], symmetric, one-sided), channel multipliers,
batches and fused activations, on every ISA, against the reference device."""

from __future__ import annotations

import numpy as np
import pytest

from cpu_helpers import check_node, randn

RELU6 = {"activation": "Clip", "activation_params": [0.0, 6.0]}
PADS = [[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]]
# (H, W): 1 row / column, odd and even, and widths whose outputs straddle 16 and 32 lanes
SIZES = [(1, 1), (2, 2), (3, 5), (7, 7), (8, 8), (14, 14), (9, 31), (6, 32), (5, 33),
         (4, 63), (3, 64), (5, 65), (11, 97), (2, 130)]


def dw_inputs(channels: int, mult: int, h: int, w: int, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    return {"x": randn(rng, batch, channels, h, w),
            "w": randn(rng, channels * mult, 1, 3, 3, scale=1 / 3),
            "b": randn(rng, channels * mult)}


# (H, W, pads) where the 3x3 window fits the padded input (else there is no output)
CASES = [(h, w, p) for h, w in SIZES for p in PADS
         if h + p[0] + p[2] >= 3 and w + p[1] + p[3] >= 3]


@pytest.mark.parametrize("h, w, pads", CASES,
                         ids=[f"{h}x{w}-{''.join(map(str, p))}" for h, w, p in CASES])
def test_dw3x3_s2_shapes_and_pads(h, w, pads, isa):
    inputs = dw_inputs(3, 1, h, w, 1, seed=h * 1000 + w)
    check_node("Conv", inputs, constants=("w", "b"),
               attrs={"group": 3, "strides": [2, 2], "pads": pads, **RELU6})


@pytest.mark.parametrize("activation, params", [("", []), ("Relu", []), ("Clip", [-0.5, 0.5]),
                                                ("Sigmoid", [])])
def test_dw3x3_s2_activations_batches_multipliers(activation, params, isa, threads):
    inputs = dw_inputs(4, 2, 13, 37, 2, seed=5)
    attrs = {"group": 4, "strides": [2, 2], "pads": [0, 0, 1, 1]}
    if activation:
        attrs.update(activation=activation, activation_params=params)
    session = check_node("Conv", inputs, constants=("w", "b"), attrs=attrs, threads=threads)
    assert session._runners[0].info["algo"] == "depthwise"


def test_dw3x3_s2_wider_than_the_row_kernels():
    """Outputs wider than the row kernels take (MC_DW_MAX_OW = 1024): the portable path."""
    check_node("Conv", dw_inputs(2, 1, 3, 2100, 1, seed=9), constants=("w", "b"),
               attrs={"group": 2, "strides": [2, 2], "pads": [1, 1, 1, 1]})


@pytest.mark.parametrize("h, w", [(7, 7), (8, 8), (3, 5), (1, 1), (4, 16)])
@pytest.mark.parametrize("activation, params", [("Clip", [0.0, 6.0]), ("Sigmoid", [])])
def test_dw3x3_s1_small_planes_in_pairs(h, w, activation, params, isa, threads):
    """Stride 1 on planes of at most 64 outputs, where the flat loops run two planes at a
    time (AVX-512): 5 channels in 2 images leave one plane alone per image."""
    inputs = dw_inputs(5, 1, h, w, 2, seed=h * 100 + w)
    attrs = {"group": 5, "pads": [1, 1, 1, 1], "activation": activation,
             "activation_params": params}
    session = check_node("Conv", inputs, constants=("w", "b"), attrs=attrs, threads=threads)
    assert session._runners[0].info["algo"] == "depthwise"


S1_ROWS = [(h, w, p) for h, w, p in CASES if w >= 16] + [
    (h, 40, [1, 1, 1, 1]) for h in (1, 2, 3, 4, 5, 6, 7, 9)] + [
    (h, w, p) for h, w in ((14, 14), (9, 12), (6, 13), (5, 15), (3, 11), (16, 16), (13, 13),
                           (7, 12), (8, 14), (15, 16)) for p in PADS]


@pytest.mark.parametrize("h, w, pads", S1_ROWS,
                         ids=[f"{h}x{w}-{''.join(map(str, p))}" for h, w, p in S1_ROWS])
def test_dw3x3_s1_row_kernels(h, w, pads, isa):
    """Stride 1 on planes the row kernels take (at least 16 wide, 12 on AVX-512; four
    output rows per pass there, eight on planes 16 wide or less, so every height leaves a
    different last pass) and a few narrower ones, every padding."""
    inputs = dw_inputs(3, 1, h, w, 1, seed=h * 1000 + w + 7)
    check_node("Conv", inputs, constants=("w", "b"),
               attrs={"group": 3, "strides": [1, 1], "pads": pads, **RELU6})


# (C, mult, H, W, stride, pads): tall planes that 2 threads split into bands of rows
BANDS = [(16, 1, 60, 60, 1, [1, 1, 1, 1]), (8, 1, 115, 113, 2, [1, 1, 1, 1]),
         (6, 2, 58, 40, 1, [0, 0, 0, 0]), (4, 1, 121, 64, 2, [0, 0, 1, 1]),
         (8, 1, 57, 33, 1, [1, 0, 1, 0])]


@pytest.mark.parametrize("c, mult, h, w, stride, pads", BANDS,
                         ids=[f"{c}x{m}-{h}x{w}-s{s}" for c, m, h, w, s, _ in BANDS])
@pytest.mark.parametrize("activation, params", [("Clip", [0.0, 6.0]), ("HardSwish", [])])
def test_dw3x3_row_bands_over_threads(c, mult, h, w, stride, pads, activation, params, isa):
    """At 2 threads, planes with 56 output rows or more run as one band of rows per thread
    (csrc/depthwise.c, dw_band_task): band edges at odd rows, shifted padding, multipliers
    and an activation the kernels do not fuse, against the reference."""
    inputs = dw_inputs(c, mult, h, w, 1, seed=h * 7 + w)
    attrs = {"group": c, "strides": [stride, stride], "pads": pads,
             "activation": activation, "activation_params": params}
    session = check_node("Conv", inputs, constants=("w", "b"), attrs=attrs, threads=2)
    assert session._runners[0].info["algo"] == "depthwise"
