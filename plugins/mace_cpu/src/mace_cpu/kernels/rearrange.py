"""Data movement on the cpu device, as strided box copies (csrc/layout.c ``mc_copy_nd``):
Pad in the reflect, edge and wrap modes (constant Pad is in layout.py), DepthToSpace and
SpaceToDepth (DCR, CRD).

Pad copies the (cropped) input into the middle of the output, then fills the pads axis
after axis from the output itself: a reflected run is a copy with a negative stride, an
edge run one with stride 0, a wrapped run a plain copy from the other end. Each axis's
copies cover the axes padded before it in full, so corners come out as numpy's ``np.pad``
makes them. All copies are planned when the op is prepared.
"""

from __future__ import annotations

from typing import Any

from mace_core.ir import Graph, Node
from mace_core.ops.depth_space import MODES as D2S_MODES

from mace_cpu.arena import output_buffer
from mace_cpu.kernels.common import Prepared, f32, from_buffer, kernel, prepared, shape
from mace_cpu.kernels.layout import Copies, _data_ok, _pad_plan, strides
from mace_cpu.threads import pool_for

PAD_MODES = ("reflect", "edge", "wrap")


# -- Pad (reflect, edge, wrap) -------------------------------------------------------------------
def _mode_widths(node: Node, graph: Graph, attrs: dict[str, Any]
                 ) -> list[tuple[int, int]] | None:
    """(begin, end) pads per axis of a reflect / edge / wrap Pad the copies can make."""
    mode = attrs.get("mode", "constant")
    if mode not in PAD_MODES:
        return None
    plan = _pad_plan(node, graph, {**attrs, "mode": "constant"})  # the same pads input
    if plan is None:
        return None
    widths = plan[0]
    for d, (b, e) in zip(shape(graph, node.inputs[0]), widths, strict=True):
        n = d + min(b, 0) + min(e, 0)  # what is left after cropping
        if n <= 0 or (mode == "reflect" and max(b, e) >= n) or (mode == "wrap" and max(b, e) > n):
            return None  # numpy repeats the reflection / wrap then; ONNX does not allow it
    return widths


def accepts_mode_pad(node: Node, graph: Graph) -> bool:
    if not _data_ok(node, graph, 1):
        return False
    try:
        return _mode_widths(node, graph, {"mode": "constant", **node.attrs}) is not None
    except ValueError:
        return False


def pad_copies(dims: list[int], widths: list[tuple[int, int]], mode: str, copies: Copies
               ) -> None:
    """Add the copies of a Pad to ``copies``: source 0 is the input, 1 the output."""
    out = [d + b + e for d, (b, e) in zip(dims, widths, strict=True)]
    xs, ys = strides(dims), strides(out)
    begin = [max(0, b) for b, _ in widths]
    inner = [d + min(b, 0) + min(e, 0) for d, (b, e) in zip(dims, widths, strict=True)]
    src_off = sum(max(0, -b) * s for (b, _), s in zip(widths, xs, strict=True))
    copies.add(inner, src_off, xs, sum(b * s for b, s in zip(begin, ys, strict=True)), ys)
    for axis, (b, e) in enumerate(widths):
        n, s = inner[axis], ys[axis]
        box = out[:axis] + [0] + inner[axis + 1:]  # axes before: done, after: the middle
        base = sum(begin[k] * ys[k] for k in range(axis + 1, len(dims)))
        # (run length, first output position, first source position, source step)
        lo, hi = begin[axis], begin[axis] + n  # the middle along this axis: [lo, hi)
        runs = {
            "reflect": [(b, 0, 2 * lo, -1), (e, hi, hi - 2, -1)],
            "edge": [(b, 0, lo, 0), (e, hi, hi - 1, 0)],
            "wrap": [(b, 0, n, 1), (e, hi, lo, 1)],
        }[mode]
        for length, dst, src, step in runs:
            if length <= 0:
                continue
            box[axis] = length
            src_strides = list(ys)
            src_strides[axis] = step * s
            copies.add(list(box), base + src * s, src_strides, base + dst * s, ys, src=1)


def prepare_mode_pad(node: Node, attrs: dict[str, Any], graph: Graph,
                     options: dict[str, Any]) -> Prepared:
    widths = _mode_widths(node, graph, attrs)
    assert widths is not None, "the predicate accepted an unsupported Pad"
    dims, out = list(shape(graph, node.inputs[0])), shape(graph, node.outputs[0])
    copies = Copies(pool_for(options))
    pad_copies(dims, widths, attrs["mode"], copies)
    slot, new = output_buffer(graph, options, node.outputs[0], out)
    ptr = from_buffer()

    def run(inputs):
        y, py = slot or new()
        copies.run(node, [ptr("float[]", f32(inputs[0])), py], [py])
        return (y,)

    return prepared(run, op="Pad", mode=attrs["mode"], threads=copies.pool.count,
                    copies=len(copies.pieces))


# -- DepthToSpace, SpaceToDepth ------------------------------------------------------------------
def accepts_depth_space(node: Node, graph: Graph) -> bool:
    return (_data_ok(node, graph, 1) and len(shape(graph, node.inputs[0])) == 4
            and node.attrs.get("mode", "DCR") in D2S_MODES and int(node.attrs["blocksize"]) >= 1)


def depth_space_view(op: str, dims: tuple[int, ...], b: int, mode: str
                     ) -> tuple[list[int], list[int]]:
    """(6-d view of the input, permutation) whose transpose is the output, as the
    reference's reshape / transpose / reshape."""
    n, c, h, w = dims
    if op == "DepthToSpace":
        if mode == "DCR":
            return [n, b, b, c // (b * b), h, w], [0, 3, 4, 1, 5, 2]
        return [n, c // (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3]
    view = [n, c, h // b, b, w // b, b]
    return view, ([0, 3, 5, 1, 2, 4] if mode == "DCR" else [0, 1, 3, 5, 2, 4])


def prepare_depth_space(node: Node, attrs: dict[str, Any], graph: Graph,
                        options: dict[str, Any]) -> Prepared:
    view, perm = depth_space_view(node.op_type, shape(graph, node.inputs[0]),
                                  int(attrs["blocksize"]), attrs["mode"])
    src = strides(view)
    box = [view[p] for p in perm]
    copies = Copies(pool_for(options))
    copies.add(box, 0, [src[p] for p in perm], 0, strides(box))
    out = shape(graph, node.outputs[0])
    slot, new = output_buffer(graph, options, node.outputs[0], out)
    ptr = from_buffer()

    def run(inputs):
        y, py = slot or new()
        copies.run(node, [ptr("float[]", f32(inputs[0]))], [py])
        return (y,)

    return prepared(run, op=node.op_type, mode=attrs["mode"], threads=copies.pool.count)


KERNELS = [
    kernel("Pad", prepare_mode_pad, accepts_mode_pad),
    kernel("DepthToSpace", prepare_depth_space, accepts_depth_space),
    kernel("SpaceToDepth", prepare_depth_space, accepts_depth_space),
]
