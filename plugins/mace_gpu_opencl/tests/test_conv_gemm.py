"""The implicit-GEMM conv kernels (whole, and split over K with the split-K sum),
conv2d_gemv and depthwise_1, forced through ``gpu_conv_kernel`` / ``gpu_conv_split_k``,
against the reference device in every storage mode; and the automatic choice by size."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_cases import MODE_IDS, MODES, Case, build, check, rand, run_case, traced_kernels

from mace_core.runtime.model import Model
from mace_gpu_opencl.kernels.conv import ConvShape, pick_kernel, pick_split

DENSE = [
    Case("gemm_3x3_pad", "Conv", [(1, 20, 9, 11), rand(36, 20, 3, 3), rand(36, seed=1)],
         {"pads": [1, 1, 1, 1], "activation": "Relu"}),
    Case("gemm_1x1_batch2", "Conv", [(2, 40, 5, 7), rand(70, 40, 1, 1)], {}),
    Case("gemm_strided_dilated", "Conv", [(1, 9, 13, 12), rand(17, 9, 3, 2), rand(17)],
         {"pads": [2, 1, 0, 1], "dilations": [2, 1], "strides": [2, 3],
          "activation": "LeakyRelu", "activation_params": [0.1]}),
    Case("gemm_7x7_s2_rgb", "Conv", [(1, 3, 20, 18), rand(8, 3, 7, 7), rand(8)],
         {"pads": [3, 3, 3, 3], "strides": [2, 2]}),
    Case("gemm_fc", "Gemm", [(2, 300), rand(130, 300), rand(130)],
         {"transB": 1, "activation": "Relu"}),
]

DEPTHWISE = [
    Case("depthwise_1_s2", "Conv", [(1, 10, 9, 9), rand(10, 1, 3, 3), rand(10)],
         {"group": 10, "pads": [1, 1, 1, 1], "strides": [2, 2], "activation": "Relu"}),
    Case("depthwise_1_dilated", "Conv", [(2, 5, 8, 7), rand(5, 1, 3, 3)],
         {"group": 5, "pads": [2, 2, 2, 2], "dilations": [2, 2]}),
]


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("split", [1, 3])
@pytest.mark.parametrize("kernel", ["conv2d_gemm", "conv2d_gemm8"])
@pytest.mark.parametrize("case", DENSE, ids=lambda c: c.id)
def test_gemm_kernels(gpu, case, kernel, split, mode):
    storage, half = mode
    ours, ref, session = run_case(case, storage, half, gpu_conv_kernel=kernel,
                                  gpu_conv_split_k=split)
    check(ours, ref, half)
    _, feeds = build(case)
    names = traced_kernels(gpu, session, feeds)
    assert kernel in names
    assert ("conv2d_splitk_sum" in names) == (split > 1)
    # another input, then the first again: nothing of an earlier run leaks into a result
    other = {k: np.flip(v).copy() for k, v in feeds.items()}
    ref_other = Model(build(case)[0]).session(["reference"]).run(other)["y"]
    check(session.run(other)["y"], ref_other, half)
    np.testing.assert_array_equal(session.run(feeds)["y"], ours)


GEMV = [
    Case("gemv_fc_relu", "Gemm", [(3, 300), rand(130, 300), rand(130)],
         {"transB": 1, "activation": "Relu"}),
    Case("gemv_1x1_conv_2x2", "Conv", [(1, 40, 2, 2), rand(9, 40, 1, 1), rand(9)], {}),
    Case("gemv_1x1_conv_strided", "Conv", [(1, 8, 3, 3), rand(20, 8, 1, 1)], {"strides": [2, 2]}),
]


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", GEMV, ids=lambda c: c.id)
def test_gemv(gpu, case, mode):
    storage, half = mode
    ours, ref, session = run_case(case, storage, half, gpu_conv_kernel="conv2d_gemv")
    check(ours, ref, half)
    assert traced_kernels(gpu, session, build(case)[1]) == ["conv2d_gemv"]


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", DEPTHWISE, ids=lambda c: c.id)
def test_depthwise_one_column(gpu, case, mode):
    storage, half = mode
    ours, ref, _ = run_case(case, storage, half, gpu_conv_kernel="depthwise_1")
    check(ours, ref, half)


def test_gemm_split_is_exact_sum(gpu):
    """Split-K slices add up to the unsplit result (fp32: equal to rounding)."""
    case = DENSE[0]
    whole, ref, _ = run_case(case, "buffer", False, gpu_conv_kernel="conv2d_gemm")
    split, _, _ = run_case(case, "buffer", False, gpu_conv_kernel="conv2d_gemm",
                           gpu_conv_split_k=4)
    np.testing.assert_allclose(split, whole, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_automatic_choice():
    def shape(c, m, hw, k=3, group=1, dilation=1):
        return ConvShape((1, c, hw, hw), (1, m, hw, hw), (m, c // group, k, k), group,
                         (dilation * (k // 2),) * 4, (1, 1), (dilation, dilation))

    # dilated: a 3x3 of stride 1 and dilation 1 goes to Winograd (test_conv_winograd.py)
    big, small = shape(256, 256, 14, dilation=2), shape(8, 8, 14)
    assert pick_kernel(shape(256, 256, 14), 132, gpu=True).startswith("wino")
    fc = ConvShape((1, 2048, 1, 1), (1, 1000, 1, 1), (1000, 2048, 1, 1), 1, (0,) * 4)
    assert pick_kernel(fc, 132, gpu=True) == "conv2d_gemv"
    assert pick_kernel(fc, 2, gpu=False) == "conv2d_1x1"
    assert pick_kernel(big, 132, gpu=True) == "conv2d_gemm"
    assert pick_kernel(small, 132, gpu=True) == "conv2d_3x3"
    assert pick_kernel(shape(16, 96, 112, k=1), 132, gpu=True) == "conv2d_1x1"
    assert pick_kernel(shape(64, 64, 56), 132, gpu=True, forced="depthwise_1") != "depthwise_1"
    assert pick_kernel(shape(96, 96, 7, group=96), 132, gpu=True) == "depthwise_1"
    assert pick_kernel(shape(96, 96, 7, group=96), 2, gpu=False) == "depthwise"
    # few output tiles on a large GPU: split over K for about one work-group per compute
    # unit, never below two K steps a slice
    kernel = pick_kernel(big, 132, gpu=True)
    split = pick_split(big, kernel, 132, gpu=True)
    assert split == 8  # 16 tiles of 64 pixels x 64 channels
    few_steps = shape(128, 256, 2)  # 9 K steps
    assert pick_split(few_steps, kernel, 132, gpu=True) == few_steps.gemm_steps // 2
    assert pick_split(shape(256, 256, 2), kernel, 132, gpu=True) == 32  # at most 32 slices
    assert pick_split(big, kernel, 132, gpu=False) == 1
    assert pick_split(big, kernel, 132, gpu=True, forced=1000) == big.gemm_steps
