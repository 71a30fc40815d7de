"""Data movement on the cpu device: Concat, Split, Slice, Transpose, constant Pad (strided
box copies, csrc/layout.c) and Resize of the two last axes (nearest, linear, cubic).

Every copy is planned when the op is prepared: the box shape and the source and
destination strides (in elements) of each piece, so a run is one C call per piece.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node
from mace_core.ops import resize as ref_resize
from mace_core.ops.pad import _pad_widths
from mace_core.ops.slicing import slice_plan

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.kernels.common import (
    Prepared,
    all_f32,
    check,
    f32,
    from_buffer,
    kernel,
    prepared,
    shape,
)
from mace_cpu.threads import pool_for

MAX_RANK = 8


def strides(dims: Sequence[int]) -> list[int]:
    """Row-major strides (in elements) of a C-contiguous tensor."""
    out, step = [], 1
    for d in reversed(dims):
        out.append(step)
        step *= d
    return out[::-1]


def const_inputs(node: Node, graph: Graph, first: int) -> bool:
    """Inputs ``first...`` of ``node`` are absent or constants."""
    return all(not name or name in graph.constants for name in node.inputs[first:])


def const(graph: Graph, node: Node, index: int) -> np.ndarray | None:
    """The constant value of input ``index`` (None when absent or empty)."""
    if index >= len(node.inputs) or not node.inputs[index]:
        return None
    value = np.asarray(graph.constants[node.inputs[index]])
    return value if value.size else None


def _data_ok(node: Node, graph: Graph, first_param: int) -> bool:
    data = [n for n in node.inputs[:first_param] if n]
    outs = [n for n in node.outputs if n]
    return (all_f32(graph, [*data, *outs]) and const_inputs(node, graph, first_param)
            and all(0 < len(shape(graph, n)) <= MAX_RANK for n in [*data, *outs]))


class Copies:
    """Box copies of a prepared op: (shape, src offset, src strides, dst offset, dst
    strides) each, run with mc_copy_nd."""

    def __init__(self, pool: Any) -> None:
        self.ffi, self.lib = native.load()
        self.pool = pool
        self.pieces: list[tuple[Any, ...]] = []

    def add(self, box: Sequence[int], src_off: int, src_strides: Sequence[int],
            dst_off: int, dst_strides: Sequence[int], src: int = 0, dst: int = 0) -> None:
        """One copy from input ``src`` to output ``dst``."""
        if math.prod(box) == 0:
            return
        new = self.ffi.new
        self.pieces.append((len(box), new("long[]", list(box)), src, src_off,
                            new("long[]", list(src_strides)), dst, dst_off,
                            new("long[]", list(dst_strides))))

    def run(self, node: Node, src: Sequence[Any], dst: Sequence[Any]) -> None:
        copy = self.lib.mc_copy_nd
        for rank, box, si, so, ss, di, do, ds in self.pieces:
            status = copy(self.pool.ptr, rank, box, src[si] + so, ss, dst[di] + do, ds)
            if status:
                check(status, node)


def _single_output(node: Node, graph: Graph, options: dict[str, Any], copies: Copies,
                   fill: float | None = None, **info: Any) -> Prepared:
    out_shape = shape(graph, node.outputs[0])
    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    ptr, lib, size = from_buffer(), copies.lib, math.prod(out_shape)
    nsrc = 1 + max((piece[2] for piece in copies.pieces), default=0)

    def run(inputs):
        y, py = slot or new()
        if fill is not None:
            lib.mc_fill(copies.pool.ptr, size, fill, py)
        copies.run(node, [ptr("float[]", f32(inputs[i])) for i in range(nsrc)], [py])
        return (y,)

    return prepared(run, op=node.op_type, threads=copies.pool.count, **info)


# -- Concat, Split, Slice, Transpose -----------------------------------------------------------
def accepts_concat(node: Node, graph: Graph) -> bool:
    return _data_ok(node, graph, len(node.inputs)) and all(node.inputs)


def prepare_concat(node: Node, attrs: dict[str, Any], graph: Graph,
                   options: dict[str, Any]) -> Prepared:
    out = shape(graph, node.outputs[0])
    axis = int(attrs["axis"]) % len(out)
    copies, at = Copies(pool_for(options)), 0
    for i, name in enumerate(node.inputs):
        dims = shape(graph, name)
        copies.add(dims, 0, strides(dims), at * strides(out)[axis], strides(out), src=i)
        at += dims[axis]
    return _single_output(node, graph, options, copies)


def accepts_split(node: Node, graph: Graph) -> bool:
    return _data_ok(node, graph, 1) and all(node.outputs)


def prepare_split(node: Node, attrs: dict[str, Any], graph: Graph,
                  options: dict[str, Any]) -> Prepared:
    dims = shape(graph, node.inputs[0])
    axis = int(attrs["axis"]) % len(dims)
    pool = pool_for(options)
    copies, at = Copies(pool), 0
    outs = []
    for j, name in enumerate(node.outputs):
        part = shape(graph, name)
        copies.add(part, at * strides(dims)[axis], strides(dims), 0, strides(part), dst=j)
        at += part[axis]
        outs.append(output_buffer(graph, options, name, part))
    ptr = from_buffer()

    def run(inputs):
        made = [slot or new() for slot, new in outs]
        copies.run(node, [ptr("float[]", f32(inputs[0]))], [p for _, p in made])
        return tuple(y for y, _ in made)

    return prepared(run, op="Split", threads=pool.count)


def _slice_args(node: Node, graph: Graph, attrs: dict[str, Any]) -> list[Any]:
    if len(node.inputs) > 1:
        return [const(graph, node, i) for i in range(1, 5)]
    return [attrs.get("starts"), attrs.get("ends"), attrs.get("axes"), None]


def accepts_slice(node: Node, graph: Graph) -> bool:
    return _data_ok(node, graph, 1)


def prepare_slice(node: Node, attrs: dict[str, Any], graph: Graph,
                  options: dict[str, Any]) -> Prepared:
    dims = shape(graph, node.inputs[0])
    index, out = slice_plan(dims, *_slice_args(node, graph, attrs))
    offset, src = 0, []
    for s, d, st in zip(index, dims, strides(dims), strict=True):
        start, _, step = s.indices(d)
        offset += start * st
        src.append(step * st)
    copies = Copies(pool_for(options))
    copies.add(out, offset, src, 0, strides(out))
    return _single_output(node, graph, options, copies)


def accepts_transpose(node: Node, graph: Graph) -> bool:
    return _data_ok(node, graph, 1)


def prepare_transpose(node: Node, attrs: dict[str, Any], graph: Graph,
                      options: dict[str, Any]) -> Prepared:
    dims = shape(graph, node.inputs[0])
    perm = attrs.get("perm") or list(range(len(dims)))[::-1]
    src = strides(dims)
    out = [dims[p] for p in perm]
    copies = Copies(pool_for(options))
    copies.add(out, 0, [src[p] for p in perm], 0, strides(out))
    return _single_output(node, graph, options, copies, perm=list(perm))


# -- Pad (constant) ----------------------------------------------------------------------------
def _pad_plan(node: Node, graph: Graph, attrs: dict[str, Any]) -> tuple[list, float] | None:
    if attrs.get("mode", "constant") != "constant":
        return None
    raw = const(graph, node, 1)
    if raw is None:
        raw = attrs.get("pads") if attrs.get("pads") is not None else attrs.get("paddings")
    if raw is None:
        return None
    axes = const(graph, node, 3)
    widths = _pad_widths(len(shape(graph, node.inputs[0])), np.asarray(raw).reshape(-1).tolist(),
                         None if axes is None else axes.reshape(-1).tolist())
    value = const(graph, node, 2)
    fill = float(attrs.get("value", 0.0)) if value is None else float(value.reshape(-1)[0])
    return widths, fill


def accepts_pad(node: Node, graph: Graph) -> bool:
    if not _data_ok(node, graph, 1):
        return False
    try:
        return _pad_plan(node, graph, {"mode": "constant", **node.attrs}) is not None
    except ValueError:
        return False


def prepare_pad(node: Node, attrs: dict[str, Any], graph: Graph,
                options: dict[str, Any]) -> Prepared:
    plan = _pad_plan(node, graph, attrs)
    assert plan is not None, "the predicate accepted an unsupported Pad"
    widths, fill = plan
    dims, out = shape(graph, node.inputs[0]), shape(graph, node.outputs[0])
    box = [d + min(b, 0) + min(e, 0) for d, (b, e) in zip(dims, widths, strict=True)]
    src_off = sum(max(0, -b) * s for (b, _), s in zip(widths, strides(dims), strict=True))
    dst_off = sum(max(0, b) * s for (b, _), s in zip(widths, strides(out), strict=True))
    copies = Copies(pool_for(options))
    copies.add(box, src_off, strides(dims), dst_off, strides(out))
    return _single_output(node, graph, options, copies, fill=fill)


# -- Resize ---------------------------------------------------------------------------------------
def _resize_plan(node: Node, graph: Graph, attrs: dict[str, Any]):
    """(out shape, taps along H, taps along W): per axis (index, weight) arrays of shape
    (out_len, taps), from the reference's own coordinate and weight helpers."""
    x = shape(graph, node.inputs[0])
    roi, scales, sizes = (const(graph, node, i) for i in (1, 2, 3))
    a = dict(attrs)
    if len([n for n in node.inputs if n]) == 2 and scales is None and sizes is None:
        scale, out = ref_resize.output_plan(x, roi, None, None)  # opset 10: Resize(X, scales)
        a = {**a, **ref_resize._legacy_attrs(a["mode"])}
    else:
        scale, out = ref_resize.output_plan(x, scales, sizes, a.get("axes"),
                                            a.get("keep_aspect_ratio_policy", "stretch"))
    mode = ref_resize.MODES[a["mode"]]
    ctm = a["coordinate_transformation_mode"]
    if len(x) != 4 or out[:2] != list(x[:2]) or ctm == "tf_crop_and_resize":
        return None
    taps = []
    for axis in (2, 3):
        in_len = x[axis]
        coords = ref_resize.source_coords(ctm, out[axis], in_len, scale[axis], (0.0, 1.0))
        if mode == "nearest":
            idx = ref_resize.nearest_index(coords, a["nearest_mode"], scale[axis], in_len)
            taps.append((idx.reshape(-1, 1), np.ones((out[axis], 1))))
            continue
        m = ref_resize.interpolation_matrix(coords, in_len, mode, a["cubic_coeff_a"],
                                            bool(a["exclude_outside"]))
        width = max(1, int((m != 0).sum(axis=1).max()))
        idx = np.zeros((out[axis], width), np.int64)
        w = np.zeros((out[axis], width))
        for row in range(out[axis]):
            cols = np.flatnonzero(m[row])
            idx[row, :cols.size], w[row, :cols.size] = cols, m[row, cols]
        taps.append((idx, w))
    return tuple(out), taps[0], taps[1]


def accepts_resize(node: Node, graph: Graph) -> bool:
    if not _data_ok(node, graph, 1):
        return False
    try:
        schema = next(op.schema for op in ref_resize.OPS if op.schema.op_type == "Resize")
        return _resize_plan(node, graph, schema.resolve_attrs(node)) is not None
    except (MaceError, ValueError, KeyError, TypeError):
        return False


def prepare_resize(node: Node, attrs: dict[str, Any], graph: Graph,
                   options: dict[str, Any]) -> Prepared:
    ffi, lib = native.load()
    plan = _resize_plan(node, graph, attrs)
    assert plan is not None, "the predicate accepted an unsupported Resize"
    out, (iy, wy), (ix, wx) = plan
    x = shape(graph, node.inputs[0])
    keep = [ffi.new("int[]", iy.reshape(-1).tolist()), ffi.new("float[]", wy.reshape(-1).tolist()),
            ffi.new("int[]", ix.reshape(-1).tolist()), ffi.new("float[]", wx.reshape(-1).tolist())]
    params = ffi.new("mc_resize_params *", dict(
        planes=x[0] * x[1], h=x[2], w=x[3], oh=out[2], ow=out[3], ty=iy.shape[1],
        tx=ix.shape[1], iy=keep[0], wy=keep[1], ix=keep[2], wx=keep[3]))
    pool = pool_for(options)
    slot, new = output_buffer(graph, options, node.outputs[0], out)
    ptr = from_buffer()

    def run(inputs):
        y, py = slot or new()
        status = lib.mc_resize2d(params, pool.ptr, ptr("float[]", f32(inputs[0])), py)
        if status:
            check(status, node)
        return (y,)

    run.keep = keep  # type: ignore[attr-defined]  (the tap tables live as long as the kernel)
    return prepared(run, op="Resize", threads=pool.count, taps=(iy.shape[1], ix.shape[1]))


KERNELS = [
    kernel("Concat", prepare_concat, accepts_concat),
    kernel("Split", prepare_split, accepts_split),
    kernel("Slice", prepare_slice, accepts_slice),
    kernel("Transpose", prepare_transpose, accepts_transpose),
    kernel("Pad", prepare_pad, accepts_pad),
    kernel("Resize", prepare_resize, accepts_resize),
]
