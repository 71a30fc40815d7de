"""Pooling, elementwise ops and Softmax on the cpu device vs the reference kernels, every
ISA, 1 / 2 threads. Pass rule: max |ours - ref| <= 1e-5 * max |ref|."""

from __future__ import annotations

import numpy as np
import pytest
from mace_core.runtime.model import Model

from cpu_helpers import check_node, node_graph, placed_device, randn

POOL_CASES = {
    "2x2_s2": ((1, 8, 16, 16), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    "3x3_s2_p1": ((2, 5, 15, 17), {"kernel_shape": [3, 3], "strides": [2, 2],
                                   "pads": [1, 1, 1, 1]}),
    "3x3_s1_p1": ((1, 3, 7, 9), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    "asym_pads": ((1, 4, 9, 8), {"kernel_shape": [3, 2], "strides": [2, 1],
                                 "pads": [0, 1, 2, 0]}),
    "ceil_mode": ((1, 4, 10, 11), {"kernel_shape": [3, 3], "strides": [2, 2],
                                   "ceil_mode": 1}),
    "ceil_pads": ((1, 2, 9, 9), {"kernel_shape": [2, 2], "strides": [2, 2],
                                 "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    "dilated": ((1, 3, 12, 12), {"kernel_shape": [2, 3], "dilations": [2, 2],
                                 "pads": [1, 0, 1, 1]}),
    "same_upper": ((1, 3, 10, 7), {"kernel_shape": [3, 3], "strides": [2, 2],
                                   "auto_pad": "SAME_UPPER"}),
    "global_like": ((1, 6, 7, 7), {"kernel_shape": [7, 7]}),
    "1xk": ((1, 2, 5, 20), {"kernel_shape": [1, 4], "strides": [1, 3]}),
}


@pytest.mark.parametrize("case", list(POOL_CASES))
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool_matches_reference(op, case, isa, threads):
    shape, attrs = POOL_CASES[case]
    x = randn(np.random.default_rng(0), *shape)
    check_node(op, {"x": x}, attrs=attrs, threads=threads)
    if op == "AveragePool" and "pads" in attrs:
        check_node(op, {"x": x}, attrs={**attrs, "count_include_pad": 1}, threads=threads)


@pytest.mark.parametrize("shape", [(1, 8, 7, 7), (2, 3, 56, 56), (1, 1000, 1, 1),
                                   (1, 5, 9), (1, 2, 3, 4, 5)])
def test_global_average_pool(shape, isa, threads):
    check_node("GlobalAveragePool", {"x": randn(np.random.default_rng(1), *shape)},
               threads=threads)


def test_max_pool_with_indices_goes_to_reference():
    x = randn(np.random.default_rng(0), 1, 2, 4, 4)
    graph = node_graph("MaxPool", {"x": x}, attrs={"kernel_shape": [2, 2]})
    assert placed_device(graph, ["cpu", "reference"]) == ["cpu"]
    graph.nodes[0].outputs = ["y0", "idx"]
    graph.outputs = ["y0", "idx"]
    from mace_core.registry import default_registry
    from mace_core.shape_inference import infer_shapes

    infer_shapes(graph, default_registry())
    assert placed_device(graph, ["cpu", "reference"]) == ["reference"]


# -- binary elementwise ---------------------------------------------------------------------
BROADCASTS = {
    "same": ((2, 8, 5, 7), (2, 8, 5, 7)),
    "per_channel": ((2, 8, 5, 7), (8, 1, 1)),
    "per_channel_4d": ((1, 16, 9, 9), (1, 16, 1, 1)),
    "squeeze_excite": ((2, 8, 5, 7), (2, 8, 1, 1)),
    "scalar": ((3, 4, 5), (1,)),
    "scalar_0d": ((3, 4, 5), ()),
    "last_axis": ((6, 10), (10,)),
    "middle_run": ((2, 3, 4, 5), (3, 4, 1)),
    "swapped": ((8, 1, 1), (2, 8, 5, 7)),
    "swapped_scalar": ((1,), (4, 6)),
    "big": ((1, 32, 64, 64), (1, 32, 64, 64)),
}


@pytest.mark.parametrize("case", list(BROADCASTS))
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_binary_matches_reference(op, case, isa, threads):
    rng = np.random.default_rng(3)
    a_shape, b_shape = BROADCASTS[case]
    inputs = {"a": randn(rng, *a_shape), "b": randn(rng, *b_shape)}
    check_node(op, inputs, threads=threads)
    check_node(op, inputs, constants=("b",), threads=threads,
               attrs={"activation": "Clip", "activation_params": [-0.5, 1.0]})


def test_unsupported_broadcast_goes_to_reference():
    rng = np.random.default_rng(0)
    both = node_graph("Add", {"a": randn(rng, 1, 3, 1, 4), "b": randn(rng, 2, 1, 5, 1)})
    split = node_graph("Mul", {"a": randn(rng, 2, 3, 4, 5), "b": randn(rng, 3, 1, 5)})
    for graph in (both, split):
        assert placed_device(graph, ["cpu", "reference"]) == ["reference"]


# -- activations and softmax -----------------------------------------------------------------
UNARY = [
    ("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Sigmoid", {}), ("Tanh", {}),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}), ("Swish", {"alpha": 1.0}),
    ("Clip", {"min": -0.5, "max": 0.5}), ("Clip", {"max": 0.25}),
]


@pytest.mark.parametrize("op, attrs", UNARY, ids=[f"{o}{i}" for i, (o, _) in enumerate(UNARY)])
@pytest.mark.parametrize("shape", [(1, 7, 5, 3), (2, 64, 32, 32), (3,)])
def test_unary_matches_reference(op, attrs, shape, isa, threads):
    x = randn(np.random.default_rng(4), *shape, scale=4.0)
    check_node(op, {"x": x}, attrs=attrs, threads=threads)


def test_clip_bounds_as_inputs(isa):
    rng = np.random.default_rng(5)
    x = randn(rng, 2, 3, 4, scale=3)
    lo, hi = np.array(-1.0, np.float32), np.array(2.0, np.float32)
    check_node("Clip", {"x": x, "lo": lo, "hi": hi}, constants=("lo", "hi"))
    check_node("Clip", {"x": x, "lo": lo, "hi": hi})  # bounds known only at run time
    check_node("Clip", {"x": x, "lo": None, "hi": hi}, constants=("hi",))


@pytest.mark.parametrize("shape, attrs", [
    ((2, 10), {"axis": -1}),
    ((1, 1000), {"axis": 1}),
    ((3, 4, 37), {}),
    ((2, 3, 4), {"axis": 1, "legacy_2d": 1}),
    ((64, 512), {"axis": -1}),
])
def test_softmax_matches_reference(shape, attrs, isa, threads):
    x = randn(np.random.default_rng(6), *shape, scale=5.0)
    check_node("Softmax", {"x": x}, attrs=attrs, threads=threads)


@pytest.mark.parametrize("shape, axis", [((2, 3, 4), 1), ((1, 16, 4, 70), 1), ((5, 6), 0),
                                         ((2, 5, 3, 300), 1)])
def test_softmax_inner_axis(shape, axis, isa, threads):
    x = randn(np.random.default_rng(7), *shape, scale=5.0)
    check_node("Softmax", {"x": x}, attrs={"axis": axis}, threads=threads)


@pytest.mark.parametrize("op, formula", [
    ("Sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x))),
    ("Tanh", np.tanh),
    ("Swish", lambda x: x / (1.0 + np.exp(-x))),
    ("Exp", np.exp),
])
def test_exp_based_activations_are_accurate_elementwise(op, formula, isa):
    """The vectorised exp keeps every element within 1e-6 relative of float64 numpy."""
    x = np.concatenate([np.linspace(-30, 30, 6001), np.linspace(-1e-3, 1e-3, 201),
                        np.linspace(-1, 1, 2001)]).astype(np.float32)
    if op == "Exp":
        x = x * 2.5  # up to e^75
    graph = node_graph(op, {"x": x}, attrs={"alpha": 1.0} if op == "Swish" else {})
    ours = Model(graph).session(["cpu"]).run({"x": x})["y0"].astype(np.float64)
    with np.errstate(over="ignore"):
        ref = formula(x.astype(np.float64))
    big = np.abs(ref) > 1e-30
    rel = np.abs(ours[big] - ref[big]) / np.abs(ref[big])
    assert rel.max() <= 1e-6, f"{op}: max relative error {rel.max():.2e}"
