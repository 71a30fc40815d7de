"""Slice, Split and Transpose on the GPU (``kernels/axes.py``) against the reference device,
in every storage mode and precision."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_cases import MODE_IDS, MODES, Case, build, check, run_case

from mace_core.ir import Node
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes


def i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


CASES = [
    Case("slice_channels_unaligned", "Slice", [(1, 11, 5, 6), i64(3), i64(9), i64(1)]),
    Case("slice_steps_negative", "Slice",
         [(2, 6, 7, 9), i64(-1, 1, 8), i64(-100, 6, 0), i64(2, 1, 3), i64(-2, 2, -3)]),
    Case("slice_rank3_last_axis", "Slice", [(1, 4, 50), i64(10), i64(45), i64(-1)]),
    Case("slice_rank1", "Slice", [(19,), i64(2), i64(17), i64(0), i64(3)]),
    Case("transpose_nhwc", "Transpose", [(1, 5, 4, 3)], {"perm": [0, 2, 3, 1]}),
    Case("transpose_0213", "Transpose", [(2, 4, 3, 6)], {"perm": [0, 2, 1, 3]}),
    Case("transpose_rank3", "Transpose", [(2, 7, 5)], {"perm": [0, 2, 1]}),
    Case("transpose_default_reverses", "Transpose", [(3, 4, 5)]),
]


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_slice_transpose(gpu, case, mode):
    storage, half = mode
    ours, ref, _ = run_case(case, storage, half)
    assert ours.shape == ref.shape
    check(ours, ref, half)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("shape, axis, split", [
    ((1, 32, 6, 5), 1, [16, 16]),
    ((1, 11, 4, 3), 1, [3, 5, 3]),
    ((2, 6, 9, 4), 2, [2, 7]),
    ((1, 4, 10), -1, None),  # equal parts (num_outputs)
])
def test_split(gpu, mode, shape, axis, split):
    storage, half = mode
    graph, feeds = build(Case(f"split_{shape}_{axis}", "Identity", [shape]))
    outs = [f"y{i}" for i in range(len(split) if split else 2)]
    sizes = [graph.add_constant("sizes", np.array(split, np.int64))] if split else []
    attrs = {"axis": axis} if split else {"axis": axis, "num_outputs": 2}
    graph.nodes = [Node("split", "Split", ["x0", *sizes], outs, attrs)]
    graph.outputs = outs
    del graph.tensors["y"]
    infer_shapes(graph, default_registry())
    ref = Model(graph).session(["reference"]).run(feeds)
    session = Model(graph).session(["gpu"], gpu_storage=storage, gpu_fp16_storage=half)
    assert [s.device for s in session.placement.steps] == ["gpu"]
    ours = session.run(feeds)
    for name in outs:
        assert ours[name].shape == ref[name].shape
        check(ours[name], ref[name], half, name)
