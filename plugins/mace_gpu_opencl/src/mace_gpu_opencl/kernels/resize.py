"""Resize (nearest / linear over H and W of 4-D tensors) by precomputed index tables.

The tables come from the reference's own coordinate functions (float64), so the GPU picks
the same source pixels, including the rounding of ``nearest_mode`` at exact halves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mace_core.ir import Graph, Node
from mace_core.ops.resize import (
    MODES,
    interpolation_matrix,
    nearest_index,
    output_plan,
    source_coords,
)
from mace_gpu_opencl.kernels.base import I32, OpEnv, activations_ok, const, gpu_spec, tensor_args


def _plan(node: Node, graph: Graph, attrs: dict[str, Any]) -> tuple[list[float], dict] | None:
    """Per-axis scales and the attributes that decide coordinates, or None if the node
    needs what the kernel lacks (dynamic scales, N/C resizing, cubic, crop-and-resize)."""
    x_shape = graph.desc(node.inputs[0]).shape
    out_shape = graph.desc(node.outputs[0]).shape
    if len(x_shape) != 4 or tuple(out_shape[:2]) != tuple(x_shape[:2]):
        return None
    mode = MODES.get(attrs.get("mode", "nearest"))
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode not in ("nearest", "linear") or ctm == "tf_crop_and_resize" or attrs.get(
            "antialias", 0):
        return None
    inputs = list(node.inputs) + [""] * 4
    if len(node.inputs) == 2 and inputs[1]:  # opset 10: Resize(X, scales)
        scales = const(graph, node, 1)
        if scales is None:
            return None
        scale, _ = output_plan(x_shape, scales, None, None)
        legacy = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "simple"}
        return scale, {**attrs, **legacy}
    scales = const(graph, node, 2) if inputs[2] else None
    scales = scales if scales is not None and scales.size else None
    sizes = const(graph, node, 3) if inputs[3] else None
    if scales is None and sizes is None:
        return None
    scale, _ = output_plan(x_shape, scales, sizes, attrs.get("axes"),
                           attrs.get("keep_aspect_ratio_policy", "stretch"))
    if scale[0] != 1.0 or scale[1] != 1.0:
        return None
    return scale, attrs


def accepts(node: Node, graph: Graph) -> bool:
    if not activations_ok(node, graph):
        return False
    defaults = {"coordinate_transformation_mode": "half_pixel", "mode": "nearest",
                "nearest_mode": "round_prefer_floor", "cubic_coeff_a": -0.75,
                "exclude_outside": 0, "axes": None, "keep_aspect_ratio_policy": "stretch"}
    try:
        return _plan(node, graph, {**defaults, **node.attrs}) is not None
    except (ValueError, KeyError):
        return False


def axis_table(in_len: int, out_len: int, scale: float, a: dict[str, Any]
               ) -> tuple[np.ndarray, np.ndarray]:
    """(indices [out, 2] int32, weights [out, 2] float32) of one resized axis."""
    ctm = a["coordinate_transformation_mode"]
    if out_len == in_len and scale == 1.0 and ctm != "tf_half_pixel_for_nn":
        idx = np.arange(out_len)
        return np.stack([idx, idx], 1).astype(np.int32), np.tile([1.0, 0.0], (out_len, 1))
    coords = source_coords(ctm, out_len, in_len, scale, (0.0, 1.0))
    if MODES[a["mode"]] == "nearest":
        idx = nearest_index(coords, a["nearest_mode"], scale, in_len)
        return np.stack([idx, idx], 1).astype(np.int32), np.tile([1.0, 0.0], (out_len, 1))
    dense = interpolation_matrix(coords, in_len, "linear", a["cubic_coeff_a"],
                                 bool(a["exclude_outside"]))
    index = np.zeros((out_len, 2), np.int32)
    weight = np.zeros((out_len, 2), np.float64)
    for row in range(out_len):
        cols = np.nonzero(dense[row])[0][:2]
        index[row, :] = cols[0] if cols.size else 0
        index[row, :cols.size] = cols
        weight[row, :cols.size] = dense[row, cols]
    return index, weight


def prepare(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    plan = _plan(node, graph, attrs)
    assert plan is not None
    scale, a = plan
    _, _, ih, iw = env.shape(node.inputs[0])
    n, c, oh, ow = env.shape(node.outputs[0])
    (yi, yw), (xi, xw) = axis_table(ih, oh, scale[2], a), axis_table(iw, ow, scale[3], a)
    tables = [env.buffer(yi), env.buffer(yw.astype(np.float32)), env.buffer(xi),
              env.buffer(xw.astype(np.float32))]
    linear = I32(MODES[a["mode"]] == "linear")
    launch = env.launcher("resize", "resize")
    out = env.output()
    width, rows = out.grid

    def run(inputs):
        x = env.input(inputs[0], 0)
        launch((width, rows), [*tensor_args(x), I32(ih), I32(iw), *tensor_args(out), I32(oh),
                               I32(ow), I32(width), I32(rows), *tables, linear])
        return env.finish([out])

    return run


KERNELS = [gpu_spec("Resize", prepare, accepts)]
