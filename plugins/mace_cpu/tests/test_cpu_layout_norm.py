"""Data movement (Concat, Split, Slice, Transpose, Pad, Resize), normalisations
(LayerNormalization, BatchNormalization), reductions, ConvTranspose, Div and unary math on
the cpu device vs the reference kernels, every ISA, 1 / 2 threads. Pass rule:
max |ours - ref| <= 1e-5 * max |ref|."""

from __future__ import annotations

import numpy as np
import pytest

from cpu_helpers import (
    assert_rel_close,
    check_node,
    feeds_of,
    i64,
    node_graph,
    placed_device,
    randn,
    run_cpu_and_reference,
)


@pytest.mark.parametrize("shapes, axis", [
    ([(1, 16, 8, 8), (1, 24, 8, 8)], 1),
    ([(1, 2, 21), (1, 2, 21), (1, 3, 21)], 1),
    ([(1, 82, 16), (1, 82, 4), (1, 82, 1)], -1),
    ([(2, 3, 4, 1), (2, 3, 4, 2)], 3),
    ([(5,)], 0),
])
def test_concat(shapes, axis, isa, threads):
    rng = np.random.default_rng(0)
    inputs = {f"x{i}": randn(rng, *s) for i, s in enumerate(shapes)}
    check_node("Concat", inputs, attrs={"axis": axis}, threads=threads)


@pytest.mark.parametrize("shape, split, axis", [
    ((1, 128, 5, 5), (64, 64), 1),
    ((1, 82, 30), (64, 18), 1),
    ((2, 6, 9), (2, 3, 4), -1),
])
def test_split(shape, split, axis, isa, threads):
    x = randn(np.random.default_rng(1), *shape)
    graph = node_graph("Split", {"x": x, "split": i64(*split)}, constants=("split",),
                       attrs={"axis": axis}, outputs=len(split))
    ours, ref, _ = run_cpu_and_reference(graph, feeds_of(graph, {"x": x}), threads)
    for name in graph.outputs:
        assert_rel_close(ours[name], ref[name], what=f"Split {name}")


@pytest.mark.parametrize("shape, starts, ends, axes, steps", [
    ((1, 4, 30), (2,), (4,), (1,), (1,)),
    ((1, 7, 9, 3), (0, 1, 0), (7, 8, 3), (1, 2, 3), (2, 3, 1)),
    ((3, 1, 8, 5, 6), (1,), (2,), (0,), (1,)),
    ((4, 10), (-1, 8), (-5, 1), (0, 1), (-1, -2)),  # backwards
    ((2, 5), (0,), (100,), (-1,), (1,)),             # clamped end
])
def test_slice(shape, starts, ends, axes, steps, isa, threads):
    check_node("Slice", {"x": randn(np.random.default_rng(2), *shape), "s": i64(*starts),
                         "e": i64(*ends), "a": i64(*axes), "t": i64(*steps)},
               constants=("s", "e", "a", "t"), threads=threads)


@pytest.mark.parametrize("shape, perm", [
    ((1, 4, 16, 21), [0, 2, 1, 3]),
    ((1, 40, 3, 8, 15), [2, 0, 3, 1, 4]),
    ((1, 8, 40, 15), [0, 1, 3, 2]),
    ((7, 9), None),
])
def test_transpose(shape, perm, isa, threads):
    attrs = {} if perm is None else {"perm": perm}
    check_node("Transpose", {"x": randn(np.random.default_rng(3), *shape)}, attrs=attrs,
               threads=threads)


@pytest.mark.parametrize("shape, pads, value", [
    ((1, 3, 10, 11), (0, 0, 1, 1, 0, 0, 1, 1), None),
    ((1, 1, 100), (0, 0, 17, 0, 0, 23), 0.5),
    ((2, 3, 9), (0, -1, 2, 1, 1, -3), -2.0),  # negative pads crop
])
def test_pad_constant(shape, pads, value, isa, threads):
    inputs = {"x": randn(np.random.default_rng(4), *shape), "pads": i64(*pads)}
    if value is not None:
        inputs["v"] = np.array([value], np.float32)
    check_node("Pad", inputs, constants=("pads", "v"), threads=threads)


def test_pad_reflect_wider_than_the_axis_goes_to_reference():
    graph = node_graph("Pad", {"x": randn(np.random.default_rng(0), 1, 1, 9),
                               "pads": i64(0, 0, 9, 0, 0, 2)}, constants=("pads",),
                       attrs={"mode": "reflect"})
    assert placed_device(graph, ["cpu", "reference"]) == ["reference"]


RESIZE = {
    "nearest_x2": ((1, 3, 5, 6), [1, 1, 2, 2], {"mode": "nearest",
                                                "coordinate_transformation_mode": "asymmetric",
                                                "nearest_mode": "floor"}),
    "nearest_x8": ((1, 2, 3, 4), [1, 1, 8, 8], {"mode": "nearest",
                                                "coordinate_transformation_mode": "asymmetric",
                                                "nearest_mode": "floor"}),
    "nearest_frac": ((2, 2, 7, 5), [1, 1, 1.5, 0.6], {"mode": "nearest"}),
    "linear_half": ((1, 3, 6, 7), [1, 1, 2, 1.5], {"mode": "linear"}),
    "linear_corners": ((1, 2, 5, 5), [1, 1, 2, 2], {
        "mode": "linear", "coordinate_transformation_mode": "align_corners"}),
    "cubic": ((1, 2, 6, 6), [1, 1, 1.5, 2], {"mode": "cubic"}),
    "linear_down": ((1, 1, 12, 9), [1, 1, 0.5, 0.34], {"mode": "linear"}),
}


@pytest.mark.parametrize("case", list(RESIZE))
def test_resize(case, isa, threads):
    shape, scales, attrs = RESIZE[case]
    check_node("Resize", {"x": randn(np.random.default_rng(5), *shape),
                          "roi": np.zeros(0, np.float32),
                          "scales": np.array(scales, np.float32)},
               constants=("roi", "scales"), attrs=attrs, threads=threads)


def test_resize_sizes_and_opset10_forms(isa):
    x = randn(np.random.default_rng(6), 1, 3, 4, 5)
    check_node("Resize", {"x": x, "roi": np.zeros(0, np.float32),
                          "scales": np.zeros(0, np.float32), "sizes": i64(1, 3, 9, 7)},
               constants=("roi", "scales", "sizes"), attrs={"mode": "linear"})
    check_node("Resize", {"x": x, "scales": np.array([1, 1, 2, 2], np.float32)},
               constants=("scales",), attrs={"mode": "nearest"})


@pytest.mark.parametrize("shape, axis, bias", [((1, 40, 120), -1, True), ((2, 3, 4, 5), -2, False),
                                               ((6, 33), 1, True)])
def test_layer_normalization(shape, axis, bias, isa, threads):
    rng = np.random.default_rng(7)
    cols = int(np.prod(shape[axis % len(shape):]))
    inputs = {"x": randn(rng, *shape, scale=3.0) + 1.0,
              "scale": randn(rng, *shape[axis % len(shape):]),
              "bias": randn(rng, *shape[axis % len(shape):]) if bias else None}
    assert cols > 0
    check_node("LayerNormalization", inputs, constants=("scale", "bias"),
               attrs={"axis": axis, "epsilon": 1e-5}, threads=threads)


@pytest.mark.parametrize("shape", [(1, 24, 16, 16), (2, 5, 7), (3, 4)])
def test_batch_normalization(shape, isa, threads):
    rng = np.random.default_rng(8)
    c = shape[1]
    check_node("BatchNormalization", {
        "x": randn(rng, *shape), "scale": randn(rng, c), "bias": randn(rng, c),
        "mean": randn(rng, c), "var": np.abs(randn(rng, c)) + 0.5},
        constants=("scale", "bias", "mean", "var"), attrs={"epsilon": 1e-3}, threads=threads)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("shape, axes, keepdims", [
    ((1, 309, 17, 2), (3,), 0), ((2, 3, 4, 5), (1, 2), 1), ((4, 6), None, 0),
    ((1, 64, 7, 7), (2, 3), 1),
])
def test_reductions(op, shape, axes, keepdims, isa, threads):
    inputs = {"x": randn(np.random.default_rng(9), *shape)}
    if axes is not None:
        inputs["axes"] = i64(*axes)
    check_node(op, inputs, constants=("axes",), attrs={"keepdims": keepdims}, threads=threads)


def test_reduction_over_split_axes_goes_to_reference():
    graph = node_graph("ReduceSum", {"x": randn(np.random.default_rng(0), 2, 3, 4),
                                     "axes": i64(0, 2)}, constants=("axes",))
    assert placed_device(graph, ["cpu", "reference"]) == ["reference"]


@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((1, 24, 10, 10), (24, 24, 2, 2), {"strides": [2, 2]}),
    ((1, 6, 9, 8), (6, 1, 2, 2), {"strides": [2, 2], "activation": "Sigmoid"}),
    ((2, 4, 5, 6), (4, 3, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1],
                                  "output_padding": [1, 0]}),
    ((1, 3, 7, 7), (3, 5, 4, 4), {"strides": [1, 1], "dilations": [2, 1],
                                  "activation": "Relu"}),
])
def test_conv_transpose(x_shape, w_shape, attrs, isa, threads):
    rng = np.random.default_rng(10)
    check_node("ConvTranspose", {"x": randn(rng, *x_shape), "w": randn(rng, *w_shape),
                                 "b": randn(rng, w_shape[1])},
               constants=("w", "b"), attrs={"kernel_shape": list(w_shape[2:]), **attrs},
               threads=threads)


@pytest.mark.parametrize("a_shape, b_shape, swap", [
    ((1, 2, 40), (1, 1, 1), False), ((1, 8, 5, 5), (1, 8, 1, 1), True),
    ((1, 172, 309), (1, 1, 1), False), ((3, 4), (3, 4), True),
])
def test_div(a_shape, b_shape, swap, isa, threads):
    rng = np.random.default_rng(11)
    a, b = randn(rng, *a_shape), np.abs(randn(rng, *b_shape)) + 0.5
    check_node("Div", {"a": b, "b": a} if swap else {"a": a, "b": b}, threads=threads)


@pytest.mark.parametrize("op", ["Neg", "Abs", "Sqrt", "Exp", "Log", "Reciprocal"])
def test_unary_math(op, isa, threads):
    x = randn(np.random.default_rng(12), 2, 3, 40, scale=3.0)
    if op in ("Sqrt", "Log", "Reciprocal"):
        x = np.abs(x) + 0.1
    check_node(op, {"x": x}, threads=threads)
