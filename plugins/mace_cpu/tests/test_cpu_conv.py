"""Conv on the cpu device vs the reference kernel, for every ISA of this CPU and 1 / 2
threads. Pass rule: max |ours - ref| <= 1e-5 * max |ref| (cpu_helpers.assert_rel_close).

These are the direct algorithms: 3x3 stride-1 convs are kept off Winograd
(MACE_CPU_CONV_ALGO=shifted), which loses about a digit and is tested at its own tolerance
in test_cpu_winograd.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpu_helpers import check_node, node_graph, placed_device, randn

RELU6 = {"activation": "Clip", "activation_params": [0.0, 6.0]}

# id: (X shape, W shape, attrs, with bias)
CASES = {
    # 1x1 stride 1: GEMM straight on NCHW
    "pw_16to24": ((1, 16, 20, 20), (24, 16, 1, 1), {}, True),
    "pw_odd": ((1, 5, 7, 9), (3, 5, 1, 1), {}, False),
    "pw_bigK": ((1, 300, 6, 7), (17, 300, 1, 1), {"activation": "Relu"}, True),
    "pw_batch2": ((2, 24, 14, 14), (40, 24, 1, 1), RELU6, True),
    "pw_1x1spatial": ((1, 64, 1, 1), (10, 64, 1, 1), {}, True),
    "pw_stride2": ((1, 8, 9, 11), (12, 8, 1, 1), {"strides": [2, 2]}, True),
    "pw_padded": ((1, 4, 5, 5), (6, 4, 1, 1), {"pads": [1, 0, 0, 2]}, True),
    # general convolutions: implicit im2col + GEMM
    "3x3_pad1": ((1, 16, 20, 20), (24, 16, 3, 3), {"pads": [1, 1, 1, 1]}, True),
    "3x3_s2_rgb": ((1, 3, 33, 31), (32, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]},
                   True),
    "3x3_K576": ((1, 64, 12, 13), (64, 64, 3, 3), {"pads": [1, 1, 1, 1], **RELU6}, True),
    "3x3_valid": ((2, 7, 9, 8), (5, 7, 3, 3), {}, False),
    "3x3_dil2": ((1, 6, 15, 14), (9, 6, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]},
                 True),
    "3x3_dil_asym": ((1, 6, 13, 17), (4, 6, 3, 3), {"dilations": [1, 3], "pads": [0, 3, 1, 2]},
                     True),
    "5x5_s3": ((1, 4, 23, 19), (8, 4, 5, 5), {"strides": [3, 3], "pads": [2, 2, 2, 2]}, True),
    "7x7_s2_stem": ((1, 3, 45, 45), (16, 3, 7, 7), {"strides": [2, 2], "pads": [3, 3, 3, 3],
                                                    "activation": "Relu"}, True),
    "1x3": ((1, 8, 10, 12), (8, 8, 1, 3), {"pads": [0, 1, 0, 1]}, True),
    "3x1_s21": ((1, 8, 10, 12), (8, 8, 3, 1), {"pads": [1, 0, 1, 0], "strides": [2, 1]}, True),
    "same_upper": ((1, 5, 10, 11), (7, 5, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
                   True),
    "same_lower": ((1, 5, 10, 11), (7, 5, 4, 4), {"auto_pad": "SAME_LOWER"}, True),
    "valid_autopad": ((1, 5, 10, 11), (7, 5, 3, 2), {"auto_pad": "VALID"}, True),
    "tiny_out": ((1, 3, 3, 3), (2, 3, 3, 3), {}, True),
    "3x3_s2_wide": ((1, 4, 7, 101), (8, 4, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]},
                    True),
    "3x3_s2_wide_even": ((2, 4, 6, 100), (8, 4, 3, 3), {"strides": [2, 2],
                                                        "pads": [0, 1, 0, 0]}, True),
    "pw_s2_wide": ((1, 8, 5, 67), (16, 8, 1, 1), {"strides": [2, 2]}, True),
    # K <= 16 and M >= 40: B slivers copied out of the image once for all row panels
    "pw_16to96_copied": ((2, 16, 9, 37), (96, 16, 1, 1), RELU6, True),
    "1x3_c4_m56_copied": ((1, 4, 10, 13), (56, 4, 1, 3), {"pads": [0, 1, 0, 1]}, True),
    # planes 4 KB apart, M >= 40: copied too (K 20, an M edge tile)
    "pw_32x32_copied": ((2, 20, 32, 32), (44, 20, 1, 1), {"activation": "Relu"}, True),
    "wide_N": ((1, 8, 3, 130), (33, 8, 3, 3), {"pads": [1, 1, 1, 1]}, True),
    # groups
    "group2": ((1, 8, 9, 9), (6, 4, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}, True),
    "group4_pw": ((2, 16, 7, 7), (8, 4, 1, 1), {"group": 4}, True),
    "group3_s2": ((1, 9, 11, 10), (12, 3, 3, 3), {"group": 3, "strides": [2, 2]}, False),
    # depthwise: direct kernels
    "dw3x3_s1": ((1, 8, 15, 13), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1]}, True),
    "dw3x3_s1_wide": ((1, 3, 6, 37), (3, 1, 3, 3), {"group": 3, "pads": [1, 1, 1, 1], **RELU6},
                      True),
    "dw3x3_s2": ((2, 8, 15, 13), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1],
                                                "strides": [2, 2], **RELU6}, True),
    "dw3x3_s2_wide": ((1, 3, 9, 75), (3, 1, 3, 3), {"group": 3, "pads": [1, 1, 1, 1],
                                                    "strides": [2, 2], **RELU6}, True),
    "dw3x3_s2_wide_asym": ((1, 2, 8, 66), (2, 1, 3, 3), {"group": 2, "pads": [0, 0, 1, 1],
                                                         "strides": [2, 2]}, False),
    "dw3x3_s2_even": ((1, 16, 14, 14), (16, 1, 3, 3), {"group": 16, "pads": [0, 0, 1, 1],
                                                       "strides": [2, 2]}, True),
    "dw3x3_nopad": ((1, 4, 9, 7), (4, 1, 3, 3), {"group": 4}, False),
    "dw3x3_asym_pad": ((1, 4, 9, 7), (4, 1, 3, 3), {"group": 4, "pads": [2, 0, 0, 2]}, True),
    "dw3x3_1col": ((1, 4, 9, 1), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}, True),
    "dw5x5": ((1, 6, 12, 11), (6, 1, 5, 5), {"group": 6, "pads": [2, 2, 2, 2],
                                             "activation": "HardSwish"}, True),
    "dw3x3_dil2": ((1, 5, 12, 11), (5, 1, 3, 3), {"group": 5, "dilations": [2, 2],
                                                  "pads": [2, 2, 2, 2]}, True),
    "dw3x3_s3": ((1, 5, 16, 17), (5, 1, 3, 3), {"group": 5, "strides": [3, 3]}, True),
    "dw_mult2": ((1, 4, 8, 9), (8, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}, True),
    "dw_1x1": ((1, 6, 5, 5), (6, 1, 1, 1), {"group": 6}, True),
    # depthwise on small planes and other kernels: flat loops (in place, masked) and grid
    # loops (padded, phase-split copy)
    "dw5x5_flat": ((1, 8, 14, 14), (8, 1, 5, 5), {"group": 8, "pads": [2, 2, 2, 2], **RELU6},
                   True),
    "dw3x3_4x4_flat": ((2, 24, 4, 4), (24, 1, 3, 3), {"group": 24, "pads": [1, 1, 1, 1]},
                       True),
    "dw7x7_wide_flat": ((1, 3, 9, 40), (3, 1, 7, 7), {"group": 3, "pads": [3, 3, 3, 3]}, True),
    "dw_mult2_flat": ((1, 4, 5, 5), (8, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}, True),
    "dw5x5_s2_grid": ((1, 6, 14, 13), (6, 1, 5, 5), {"group": 6, "pads": [2, 2, 2, 2],
                                                     "strides": [2, 2]}, True),
    "dw3x3_s2_dil2_grid": ((1, 5, 15, 16), (5, 1, 3, 3), {"group": 5, "pads": [2, 1, 2, 3],
                                                          "strides": [2, 2],
                                                          "dilations": [2, 2]}, True),
    "dw3x3_valid_grid": ((1, 4, 6, 7), (4, 1, 3, 3), {"group": 4, "activation": "Sigmoid"},
                         True),
    # 1x1 on small images: pixels as rows, output channels in the vectors (AVX-512)
    "pw_7x7_skinny": ((1, 160, 7, 7), (96, 160, 1, 1), RELU6, True),
    "pw_4x4_skinny": ((2, 80, 4, 4), (96, 80, 1, 1), {"activation": "HardSwish"}, True),
    "pw_1x1_fc_skinny": ((1, 256, 1, 1), (100, 256, 1, 1), {}, True),
    "pw_3x5_skinny": ((1, 64, 3, 5), (64, 64, 1, 1), {"activation": "Relu"}, False),
    # K over one K block (partial sums carried between blocks), 55 rows as 7 tiles of 7-8
    "pw_deep_skinny": ((1, 1100, 5, 11), (64, 1100, 1, 1), RELU6, True),
}

ALGO = {"pw_16to24": "gemm1x1", "pw_batch2": "gemm1x1", "group4_pw": "gemm1x1",
        "pw_stride2": "im2col", "3x3_s2_rgb": "im2col", "group3_s2": "im2col",
        "pw_padded": "shifted", "3x3_pad1": "shifted", "group2": "shifted",
        "3x3_dil_asym": "shifted", "dw3x3_s1": "depthwise", "dw_mult2": "depthwise",
        "dw5x5": "depthwise", "pw_16to96_copied": "gemm1x1",
        "1x3_c4_m56_copied": "shifted",
        "pw_32x32_copied": "gemm1x1"}
SKINNY = {"pw_7x7_skinny", "pw_4x4_skinny", "pw_1x1_fc_skinny", "pw_3x5_skinny",
          "pw_deep_skinny"}

ACTIVATIONS = [
    ("Relu", []), ("Clip", [-0.5, 0.75]), ("LeakyRelu", [0.1]), ("Sigmoid", []), ("Tanh", []),
    ("HardSigmoid", [0.2, 0.5]), ("HardSwish", []), ("Swish", [1.0]), ("Swish", [1.7]),
]


@pytest.fixture(autouse=True)
def _direct_algorithms(monkeypatch):
    monkeypatch.setenv("MACE_CPU_CONV_ALGO", "shifted")


def conv_inputs(x_shape, w_shape, bias, seed=0):
    """Inputs of unit scale; weights scaled by 1/sqrt(fan-in), so outputs are O(1) too and
    squashing activations (Clip, Sigmoid...) see values around their bends."""
    rng = np.random.default_rng(seed)
    fan_in = int(np.prod(w_shape[1:]))
    return {
        "x": randn(rng, *x_shape),
        "w": randn(rng, *w_shape, scale=1.0 / np.sqrt(fan_in)),
        "b": randn(rng, w_shape[0]) if bias else None,
    }


@pytest.mark.parametrize("case", list(CASES))
def test_conv_matches_reference(case, isa, threads):
    x_shape, w_shape, attrs, bias = CASES[case]
    session = check_node("Conv", conv_inputs(x_shape, w_shape, bias), constants=("w", "b"),
                         attrs=attrs, threads=threads)
    runner = session._runners[0]
    assert runner.info["isa"] == isa and runner.info["threads"] == threads
    if case in ALGO:
        assert runner.info["algo"] == ALGO[case]
    if case in SKINNY:
        assert runner.info["algo"] == ("skinny1x1" if isa == "avx512" else "gemm1x1")


@pytest.mark.parametrize("activation, params", ACTIVATIONS, ids=[a for a, _ in ACTIVATIONS])
@pytest.mark.parametrize("case", ["pw_odd", "3x3_K576", "dw3x3_s1", "dw3x3_s2", "dw5x5"])
def test_fused_activations(case, activation, params, isa):
    x_shape, w_shape, attrs, bias = CASES[case]
    attrs = {**attrs, "activation": activation, "activation_params": params}
    check_node("Conv", conv_inputs(x_shape, w_shape, True, seed=3), constants=("w", "b"),
               attrs=attrs, threads=2)


def test_large_layers_with_threads(isa):
    """Many N chunks, several K blocks and M edge tiles, split over 2 threads."""
    check_node("Conv", conv_inputs((1, 32, 56, 56), (72, 32, 3, 3), True, seed=5),
               constants=("w", "b"), attrs={"pads": [1, 1, 1, 1], **RELU6}, threads=2)
    check_node("Conv", conv_inputs((1, 96, 56, 56), (24, 96, 1, 1), True, seed=6),
               constants=("w", "b"), threads=2)


@given(
    c=st.integers(1, 9), m=st.integers(1, 13), h=st.integers(1, 12), w=st.integers(1, 12),
    k=st.sampled_from([(1, 1), (3, 3), (2, 3), (5, 1)]), stride=st.integers(1, 3),
    dil=st.integers(1, 2), pad=st.integers(0, 2), depthwise=st.booleans(),
    act=st.sampled_from(["", "Relu", "HardSwish"]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_conv_random_geometry(c, m, h, w, k, stride, dil, pad, depthwise, act):
    extent = [(k[0] - 1) * dil + 1, (k[1] - 1) * dil + 1]
    if h + 2 * pad < extent[0] or w + 2 * pad < extent[1]:
        return  # the window does not fit: an invalid model, not a kernel case
    group, m = (c, c) if depthwise else (1, m)
    attrs = {"strides": [stride, stride], "dilations": [dil, dil], "pads": [pad] * 4,
             "group": group, "activation": act}
    check_node("Conv", conv_inputs((1, c, h, w), (m, c // group, *k), True, seed=c * h + w),
               constants=("w", "b"), attrs=attrs, threads=2)


def test_unsupported_conv_goes_to_reference():
    rng = np.random.default_rng(0)
    inputs = {"x": randn(rng, 1, 2, 4, 4, 4), "w": randn(rng, 3, 2, 3, 3, 3)}  # 3-D
    graph = node_graph("Conv", inputs, constants=("w",))
    assert placed_device(graph, ["cpu", "reference"]) == ["reference"]
    inputs = {"x": randn(rng, 1, 2, 5, 5), "w": randn(rng, 3, 2, 3, 3)}  # weights as input
    graph = node_graph("Conv", inputs)
    assert placed_device(graph, ["cpu", "reference"]) == ["reference"]
    graph = node_graph("Conv", {"x": inputs["x"].astype(np.float16),
                                "w": inputs["w"].astype(np.float16)}, constants=("w",))
    assert placed_device(graph, ["cpu", "reference"]) == ["reference"]


@pytest.mark.parametrize("activation, params", [("HardSwish", []), ("Clip", [-0.5, 0.5])])
def test_skinny_split_rows_across_tasks(activation, params, isa):
    """160 outputs (5 slivers of 32) on 2 threads: tasks split the rows of a sliver too, and
    an activation the kernel does not fuse runs on each task's rows only."""
    session = check_node("Conv", conv_inputs((1, 160, 7, 7), (160, 160, 1, 1), True, seed=11),
                         constants=("w", "b"), threads=2,
                         attrs={"activation": activation, "activation_params": params})
    if isa == "avx512":
        assert session._runners[0].info["algo"] == "skinny1x1"


# (x, w, attrs): ungrouped convs with a handful of output pixels, which run on the skinny
# kernel from a column matrix built per run (csrc/conv.c, skinny-im2col) on AVX-512
SKINNY_COLS = {
    "1d_k3": ((1, 129, 4), (128, 129, 3), {"pads": [1, 1]}),
    "1d_k3_s2": ((1, 128, 4), (100, 128, 3), {"pads": [1, 1], "strides": [2]}),
    "1d_k5_dil3": ((1, 16, 9), (64, 16, 5), {"pads": [2, 4], "dilations": [3]}),
    "3x3_dil2": ((1, 48, 7, 7), (96, 48, 3, 3), {"pads": [2, 2, 2, 2], "dilations": [2, 2]}),
    "3x3_s2_batch2": ((2, 32, 14, 13), (96, 32, 3, 3), {"pads": [1, 0, 1, 1],
                                                       "strides": [2, 2]}),
    "2x3_pad": ((1, 20, 3, 5), (64, 20, 2, 3), {"pads": [1, 2, 0, 1]}),
}


@pytest.mark.parametrize("activation, params", [("Relu", []), ("HardSwish", [])])
@pytest.mark.parametrize("case", list(SKINNY_COLS))
def test_skinny_from_built_columns(case, activation, params, isa, threads):
    """Padding, strides, dilation, 1-D convs and batches through the column matrix, with a
    fused and an unfused activation, against the reference."""
    x_shape, w_shape, attrs = SKINNY_COLS[case]
    session = check_node("Conv", conv_inputs(x_shape, w_shape, True, seed=len(case)),
                         constants=("w", "b"), threads=threads,
                         attrs={**attrs, "activation": activation, "activation_params": params})
    if isa == "avx512":
        assert session._runners[0].info["algo"] == "skinny-im2col"
