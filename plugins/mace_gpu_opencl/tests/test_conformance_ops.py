"""Conformance of elementwise, layout, reduction, softmax and resize kernels with the
reference device, in every storage mode and precision."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_cases import MODE_IDS, MODES, Case, check, rand, run_case

ELTWISE = [
    Case("add_same_shape", "Add", [(2, 5, 4, 3), (2, 5, 4, 3)]),
    Case("add_channel_const_relu", "Add", [(1, 6, 5, 4), rand(1, 6, 1, 1)],
         {"activation": "Relu"}),
    Case("mul_scalar_const", "Mul", [(1, 3, 4, 5), np.array(1.5, np.float32)]),
    Case("sub_const_first", "Sub", [np.array(2.0, np.float32), (2, 3, 3)]),
    Case("div_by_width_vector", "Div", [(1, 2, 3, 5),
                                        np.array([0.5, -1, 2, 1.5, -0.75], np.float32)]),
    Case("add_bcast_both_ways", "Add", [(2, 1, 4, 5), (2, 7, 1, 1)],
         {"activation": "Clip", "activation_params": [-0.5, 0.5]}),
    Case("add_lower_rank_activation", "Add", [(1, 3, 4, 5), (4, 5)]),
    Case("add_rank2", "Add", [(3, 10), rand(10)], {"activation": "Sigmoid"}),
    Case("add_swish", "Add", [(1, 3, 4, 5), rand(5)],
         {"activation": "Swish", "activation_params": [1.0]}),
    Case("max_pair", "Max", [(1, 5, 3, 3), (1, 5, 3, 3)]),
    Case("min_const", "Min", [(1, 5, 3, 3), rand(5, 1, 1)]),
    Case("prelu_channel_slope", "PRelu", [(1, 6, 4, 4), rand(6, 1, 1)]),
    Case("pow_positive", "Pow", [(1, 3, 4, 4), np.array(1.7, np.float32)], low=0.1, high=2),
    Case("sum_pair", "Sum", [(2, 3, 4), (2, 3, 4)]),
    Case("batchnorm_4d", "BatchNormalization",
         [(2, 5, 4, 3), rand(5), rand(5, seed=1), rand(5, seed=2),
          np.random.default_rng(3).uniform(0.5, 2, 5).astype(np.float32)], {"epsilon": 1e-3}),
    Case("batchnorm_2d", "BatchNormalization",
         [(3, 7), rand(7), rand(7, seed=1), rand(7, seed=2),
          np.random.default_rng(4).uniform(0.5, 2, 7).astype(np.float32)]),
]

UNARY = [
    Case("relu", "Relu", [(1, 5, 3, 4)]),
    Case("sigmoid", "Sigmoid", [(1, 5, 3, 4)]),
    Case("tanh", "Tanh", [(2, 3, 7)]),
    Case("leaky_relu", "LeakyRelu", [(1, 5, 3, 4)], {"alpha": 0.2}),
    Case("clip_inputs", "Clip", [(1, 5, 3, 4), np.array(-0.3, np.float32),
                                 np.array(0.6, np.float32)]),
    Case("clip_max_only", "Clip", [(1, 5, 3, 4), None, np.array(0.25, np.float32)]),
    Case("clip_attrs", "Clip", [(1, 5, 3, 4)], {"min": -0.1, "max": 0.1}),
    Case("hard_sigmoid", "HardSigmoid", [(1, 5, 3, 4)], {"alpha": 0.3, "beta": 0.4}),
    Case("hard_swish", "HardSwish", [(1, 5, 3, 4)], low=-5, high=5),
    Case("elu", "Elu", [(1, 5, 3, 4)], {"alpha": 0.7}),
    Case("softplus", "Softplus", [(1, 5, 3, 4)], low=-8, high=8),
    Case("abs", "Abs", [(1, 5, 3, 4)]),
    Case("neg", "Neg", [(7,)]),
    Case("exp", "Exp", [(1, 5, 3, 4)]),
    Case("sqrt", "Sqrt", [(1, 5, 3, 4)], low=0.0, high=4.0),
    Case("swish", "Swish", [(1, 5, 3, 4)], {"alpha": 1.5}, low=-6, high=6),
    Case("log", "Log", [(1, 5, 3, 4)], low=0.05, high=4.0),
]

LAYOUT = [
    Case("reshape_flatten_chw", "Reshape", [(2, 3, 4, 5), np.array([2, -1], np.int64)]),
    Case("reshape_split_channels", "Reshape", [(1, 12, 2, 3), np.array([1, 3, 4, 6], np.int64)]),
    Case("flatten_gap", "Flatten", [(2, 9, 1, 1)], {"axis": 1}),
    Case("squeeze", "Squeeze", [(1, 6, 1, 4), np.array([2], np.int64)]),
    Case("unsqueeze", "Unsqueeze", [(3, 5), np.array([0], np.int64)]),
    Case("identity", "Identity", [(1, 3, 2, 2)]),
    Case("concat_c_aligned", "Concat", [(1, 4, 3, 5), (1, 8, 3, 5), (1, 3, 3, 5)], {"axis": 1}),
    Case("concat_c_unaligned", "Concat", [(2, 3, 3, 2), (2, 5, 3, 2), (2, 2, 3, 2)],
         {"axis": 1}),
    Case("concat_h", "Concat", [(1, 5, 2, 4), (1, 5, 3, 4)], {"axis": 2}),
    Case("concat_w", "Concat", [(1, 5, 2, 4), (1, 5, 2, 1)], {"axis": -1}),
    Case("concat_n", "Concat", [(1, 3, 2, 2), (2, 3, 2, 2)], {"axis": 0}),
    Case("concat_rank2", "Concat", [(2, 3), (2, 6)], {"axis": 1}),
    Case("depth_to_space_dcr", "DepthToSpace", [(1, 8, 3, 2)], {"blocksize": 2}),
    Case("depth_to_space_crd", "DepthToSpace", [(2, 18, 2, 2)], {"blocksize": 3, "mode": "CRD"}),
    Case("space_to_depth", "SpaceToDepth", [(1, 3, 4, 6)], {"blocksize": 2}),
    Case("space_to_depth_crd", "SpaceToDepth", [(1, 2, 6, 3)], {"blocksize": 3, "mode": "CRD"}),
    Case("pad_constant", "Pad", [(1, 3, 4, 5), np.array([0, 1, 2, 1, 0, 2, 1, 3], np.int64),
                                 np.array(0.5, np.float32)]),
    Case("pad_reflect", "Pad", [(1, 2, 4, 5), np.array([0, 0, 2, 3, 0, 0, 1, 2], np.int64)],
         {"mode": "reflect"}),
    Case("pad_edge", "Pad", [(2, 3, 3, 3), np.array([0, 0, 1, 1, 0, 0, 2, 2], np.int64)],
         {"mode": "edge"}),
    Case("pad_wrap", "Pad", [(1, 2, 3, 4), np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)],
         {"mode": "wrap"}),
    Case("pad_crop", "Pad", [(1, 5, 6, 6), np.array([0, -1, -2, 1, 0, 0, 1, -3], np.int64)]),
]

REDUCE = [
    Case("softmax_rank2", "Softmax", [(3, 10)], {"axis": 1}),
    Case("softmax_channels", "Softmax", [(2, 6, 3, 2)], {"axis": 1}),
    Case("softmax_width", "Softmax", [(1, 5, 3, 7)], {"axis": -1}),
    Case("softmax_height", "Softmax", [(1, 5, 6, 2)], {"axis": 2}),
    Case("softmax_legacy", "Softmax", [(2, 9, 1, 1)], {"axis": 1, "legacy_2d": 1}),
    Case("log_softmax", "LogSoftmax", [(4, 7)], {"axis": -1}),
    Case("mean_hw_keep", "ReduceMean", [(2, 6, 5, 4)], {"axes": [2, 3]}),
    Case("mean_c_drop", "ReduceMean", [(2, 6, 5, 4)], {"axes": [1], "keepdims": 0}),
    Case("mean_axes_input", "ReduceMean", [(1, 5, 4, 3), np.array([-1], np.int64)]),
    Case("sum_all", "ReduceSum", [(2, 3, 4, 5)], {"keepdims": 0}),
    Case("max_w", "ReduceMax", [(1, 7, 2, 6)], {"axes": [3]}),
    Case("min_ch", "ReduceMin", [(1, 7, 2, 6)], {"axes": [1, 2]}),
]

RESIZE = [
    Case("nearest_x2_asymmetric", "Resize",
         [(1, 3, 4, 5), None, np.array([1, 1, 2, 2], np.float32)],
         {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
          "nearest_mode": "floor"}),
    Case("nearest_sizes_half_pixel", "Resize",
         [(1, 5, 4, 6), None, None, np.array([1, 5, 6, 9], np.int64)], {"mode": "nearest"}),
    Case("linear_x2_half_pixel", "Resize",
         [(2, 3, 4, 4), None, np.array([1, 1, 2, 2], np.float32)], {"mode": "linear"}),
    Case("linear_align_corners", "Resize",
         [(1, 6, 5, 3), None, None, np.array([1, 6, 9, 7], np.int64)],
         {"mode": "linear", "coordinate_transformation_mode": "align_corners"}),
    Case("linear_down_pytorch", "Resize",
         [(1, 2, 8, 9), None, np.array([1, 1, 0.5, 0.6], np.float32)],
         {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}),
]


def _run(case: Case, mode: tuple[str, bool]) -> None:
    storage, half = mode
    ours, ref, _ = run_case(case, storage, half)
    check(ours, ref, half)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", ELTWISE + UNARY, ids=lambda c: c.id)
def test_eltwise(gpu, case, mode):
    _run(case, mode)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", LAYOUT, ids=lambda c: c.id)
def test_layout(gpu, case, mode):
    _run(case, mode)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", REDUCE, ids=lambda c: c.id)
def test_reduce(gpu, case, mode):
    _run(case, mode)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", RESIZE, ids=lambda c: c.id)
def test_resize(gpu, case, mode):
    _run(case, mode)
