"""Conformance of Conv, pooling, Gemm / MatMul with the reference device, in every storage
mode (image2d / buffer) and precision (fp32 / fp16 storage)."""

from __future__ import annotations

import pytest
from gpu_cases import MODE_IDS, MODES, Case, check, rand, run_case

CONV = [
    Case("conv3x3_pad_bias", "Conv", [(1, 5, 9, 11), rand(6, 5, 3, 3), rand(6, seed=1)],
         {"pads": [1, 1, 1, 1]}),
    Case("conv3x3_stride2_batch2", "Conv", [(2, 8, 10, 9), rand(12, 8, 3, 3)],
         {"pads": [1, 1, 1, 1], "strides": [2, 2], "activation": "Relu"}),
    Case("conv1x1_stride", "Conv", [(2, 8, 7, 6), rand(7, 8, 1, 1)], {"strides": [2, 1]}),
    Case("conv1x1_wide", "Conv", [(1, 16, 3, 17), rand(20, 16, 1, 1), rand(20, seed=2)]),
    Case("conv5x2_dilated_strided", "Conv", [(1, 3, 10, 12), rand(5, 3, 5, 2)],
         {"pads": [2, 1, 0, 1], "dilations": [1, 2], "strides": [3, 2], "activation": "Relu"}),
    Case("conv_same_upper_leaky", "Conv", [(1, 4, 8, 7), rand(4, 4, 3, 3)],
         {"auto_pad": "SAME_UPPER", "strides": [2, 2], "activation": "LeakyRelu",
          "activation_params": [0.1]}),
    Case("conv_hardswish_odd_channels", "Conv", [(1, 7, 6, 6), rand(9, 7, 2, 2), rand(9)],
         {"activation": "HardSwish"}),
    Case("conv_swish", "Conv", [(1, 6, 7, 5), rand(8, 6, 3, 3), rand(8)],
         {"pads": [1, 1, 1, 1], "activation": "Swish", "activation_params": [1.0]}),
    Case("conv_sigmoid_valid", "Conv", [(1, 2, 7, 5), rand(3, 2, 3, 3)],
         {"auto_pad": "VALID", "activation": "Sigmoid"}),
    Case("depthwise3x3_s2_relu6", "Conv", [(1, 6, 9, 9), rand(6, 1, 3, 3), rand(6)],
         {"group": 6, "pads": [1, 1, 1, 1], "strides": [2, 2], "activation": "Clip",
          "activation_params": [0.0, 6.0]}),
    Case("depthwise5x5_dilated", "Conv", [(2, 9, 11, 10), rand(9, 1, 5, 5)],
         {"group": 9, "pads": [4, 4, 4, 4], "dilations": [2, 2]}),
    Case("grouped_g3", "Conv", [(1, 6, 9, 9), rand(9, 2, 2, 3), rand(9)],
         {"group": 3, "pads": [1, 0, 1, 2], "dilations": [2, 1]}),
    Case("grouped_multiplier2", "Conv", [(1, 4, 6, 7), rand(8, 1, 3, 3)],
         {"group": 4, "pads": [1, 1, 1, 1], "activation": "Tanh"}),
    Case("conv1d", "Conv", [(2, 4, 13), rand(6, 4, 3), rand(6)], {"pads": [1, 1]}),
]

DECONV = [
    Case("deconv_k2_s2", "ConvTranspose", [(1, 8, 5, 6), rand(8, 12, 2, 2), rand(12)],
         {"strides": [2, 2]}),
    Case("deconv_k3_s2_pad_outpad_relu", "ConvTranspose", [(2, 5, 4, 7), rand(5, 6, 3, 3)],
         {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 0],
          "activation": "Relu"}),
    Case("deconv_dilated_s1", "ConvTranspose", [(1, 3, 6, 5), rand(3, 7, 3, 2), rand(7)],
         {"dilations": [2, 1], "pads": [1, 0, 0, 1]}),
    Case("deconv_grouped_blocks", "ConvTranspose", [(1, 8, 4, 4), rand(8, 4, 2, 2)],
         {"group": 2, "strides": [2, 2]}),
    Case("deconv_same_upper_s3", "ConvTranspose", [(1, 4, 3, 5), rand(4, 5, 4, 4)],
         {"strides": [3, 3], "auto_pad": "SAME_UPPER"}),
    Case("deconv_1d", "ConvTranspose", [(2, 6, 9), rand(6, 5, 4), rand(5)],
         {"strides": [2], "pads": [1, 2]}),
]

POOL = [
    Case("maxpool3x3_s2_pad", "MaxPool", [(1, 5, 9, 10)],
         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    Case("maxpool2x2_ceil", "MaxPool", [(2, 4, 7, 7)],
         {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    Case("maxpool_dilated", "MaxPool", [(1, 3, 9, 9)],
         {"kernel_shape": [2, 3], "dilations": [2, 2], "pads": [0, 1, 1, 0]}),
    Case("avgpool3x3_exclude_pad", "AveragePool", [(1, 6, 8, 9)],
         {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    Case("avgpool_include_pad_ceil", "AveragePool", [(1, 5, 7, 8)],
         {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1],
          "count_include_pad": 1, "ceil_mode": 1}),
    Case("avgpool_same_lower", "AveragePool", [(1, 3, 6, 5)],
         {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER", "strides": [2, 2]}),
    Case("maxpool1d", "MaxPool", [(1, 3, 12)], {"kernel_shape": [3], "strides": [2]}),
    Case("global_avg", "GlobalAveragePool", [(2, 10, 13, 11)]),
    Case("global_avg_large_plane", "GlobalAveragePool", [(1, 3, 64, 64)], low=0.0),
    Case("global_max", "GlobalMaxPool", [(1, 7, 5, 6)]),
]

GEMM = [
    Case("gemm_fc_transb_bias", "Gemm", [(3, 20), rand(10, 20), rand(10)], {"transB": 1}),
    Case("gemm_alpha_beta_rowbias", "Gemm", [(2, 9), rand(9, 7), rand(1, 7)],
         {"alpha": 0.5, "beta": 2.0, "activation": "Relu"}),
    Case("gemm_no_bias", "Gemm", [(5, 16), rand(16, 13)]),
    Case("matmul_2d", "MatMul", [(4, 6), rand(6, 5)]),
    Case("matmul_batched", "MatMul", [(2, 3, 8), rand(8, 6)]),
]


def _run(case: Case, mode: tuple[str, bool]) -> None:
    storage, half = mode
    ours, ref, _ = run_case(case, storage, half)
    check(ours, ref, half)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", CONV, ids=lambda c: c.id)
def test_conv(gpu, case, mode):
    _run(case, mode)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", DECONV, ids=lambda c: c.id)
def test_conv_transpose(gpu, case, mode):
    _run(case, mode)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", POOL, ids=lambda c: c.id)
def test_pool(gpu, case, mode):
    _run(case, mode)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", GEMM, ids=lambda c: c.id)
def test_gemm(gpu, case, mode):
    _run(case, mode)


def test_cases_cover_every_conv_kernel():
    """Each kernel of cl/conv2d.cl is chosen by at least one case above."""
    from mace_gpu_opencl.kernels.conv import choose

    chosen = set()
    for case in CONV:
        x, w = case.inputs[0], case.inputs[1]
        x4 = tuple(x) + (1,) * (4 - len(x))
        w4 = w.reshape(*w.shape, *([1] * (4 - w.ndim)))
        chosen.add(choose(x4, w4, case.attrs.get("group", 1), case.attrs.get("pads", [0])))
    assert chosen == {"conv2d", "conv2d_3x3", "conv2d_1x1", "depthwise", "conv2d_grouped"}
