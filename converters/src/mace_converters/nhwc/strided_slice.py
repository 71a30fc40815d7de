"""TensorFlow's StridedSlice (also TFLite's STRIDED_SLICE) as ONNX Slice/Squeeze/Unsqueeze.

The sparse TF slice spec (begin/end/strides with begin, end, ellipsis, new-axis and
shrink-axis bit masks) is first expanded to one entry per input axis, then emitted as one
``Slice`` over the axes that are not taken whole, a ``Squeeze`` of the shrunk axes and an
``Unsqueeze`` of the new ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from mace_converters.nhwc.builder import LayoutBuilder, drop_axes, identity
from mace_converters.nhwc.tensor_ops import INT_MAX, INT_MIN, ints, slice_axes
from mace_core.errors import ConversionError


@attrs.frozen
class SliceMasks:
    begin: int = 0
    end: int = 0
    ellipsis: int = 0
    new_axis: int = 0
    shrink_axis: int = 0
    offset: bool = False  # TFLite: end is relative to begin


@attrs.frozen
class DenseSlice:
    """The spec expanded: per-axis (axis, start, end, step), shrunk input axes, and for
    each output axis of the result whether it is new (``True``) or kept from the input."""

    spec: list[tuple[int, int, int, int]]
    shrink: list[int]
    output_axes: list[bool]


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


def expand(rank: int, begin: Sequence[int], end: Sequence[int], strides: Sequence[int],
           m: SliceMasks) -> DenseSlice:
    """Expand a sparse TF slice spec against an input of ``rank`` axes."""
    n = len(begin)
    if not len(end) == len(strides) == n:
        raise ValueError(f"begin {list(begin)}, end {list(end)} and strides {list(strides)} "
                         "differ in length")
    consuming = sum(1 for i in range(n) if not _bit(m.ellipsis, i) and not _bit(m.new_axis, i))
    spec: list[tuple[int, int, int, int]] = []
    shrink: list[int] = []
    output_axes: list[bool] = []
    axis = 0
    seen_ellipsis = False
    for i in range(n):
        if _bit(m.ellipsis, i):
            if seen_ellipsis:
                raise ValueError("more than one ellipsis in the slice spec")
            seen_ellipsis = True
            for _ in range(rank - consuming):
                spec.append((axis, 0, INT_MAX, 1))
                output_axes.append(False)
                axis += 1
            continue
        if _bit(m.new_axis, i):
            output_axes.append(True)
            continue
        b, e, s = int(begin[i]), int(end[i]), int(strides[i])
        if s == 0:
            raise ValueError(f"slice stride {i} is 0")
        if m.offset:
            e = b + e
        if _bit(m.shrink_axis, i):
            spec.append((axis, b, INT_MAX if b == -1 else b + 1, 1))
            shrink.append(axis)
        else:
            start = (0 if s > 0 else INT_MAX) if _bit(m.begin, i) else b
            stop = (INT_MAX if s > 0 else INT_MIN) if _bit(m.end, i) else e
            spec.append((axis, start, stop, s))
            output_axes.append(False)
        axis += 1
    while axis < rank:
        spec.append((axis, 0, INT_MAX, 1))
        output_axes.append(False)
        axis += 1
    if axis != rank:
        raise ValueError(f"the slice spec indexes {axis} axes of a rank-{rank} input")
    return DenseSlice(spec, shrink, output_axes)


def strided_slice(b: LayoutBuilder, key: str, x: str, begin: Sequence[int],
                  end: Sequence[int], strides: Sequence[int], masks: SliceMasks) -> None:
    """Emit a strided slice of source tensor ``x`` producing ``key``."""
    try:
        dense = expand(b.rank(x), begin, end, strides, masks)
    except ValueError as exc:
        raise ConversionError(f"StridedSlice producing {key!r}: {exc}") from None
    has_new = any(dense.output_axes)
    if has_new and b.perm(x) != identity(b.rank(x)):
        # new axes are placed in source order: work in the source layout
        b.bind(x, b.get(x), identity(b.rank(x)))
    perm = b.perm(x)
    name = slice_axes(b, key, x, dense.spec, f"{key}_slice")
    out_perm = perm
    if dense.shrink:
        mace_axes = sorted(perm.index(a) for a in dense.shrink)
        out_perm = drop_axes(perm, dense.shrink)
        name = b.temp("Squeeze", [name, ints(b, mace_axes, f"{key}_shrink")],
                      base=f"{key}_squeezed")
    if has_new:
        new = [i for i, is_new in enumerate(dense.output_axes) if is_new]
        out_perm = identity(len(dense.output_axes))
        name = b.temp("Unsqueeze", [name, ints(b, new, f"{key}_new")], base=f"{key}_expanded")
    if name == b.value(x).name:
        b.alias(key, x)
        return
    b.bind(key, name, out_perm)
