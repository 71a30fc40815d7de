"""Pad: grow (or, with negative pads, crop) a tensor at both ends of each axis.

Opset 11+ gives pads, constant_value and (opset 18) axes as inputs; opsets 2-10 give
``pads`` and ``value`` as attributes (opset 1 calls them ``paddings``). Pads are listed as
all begins, then all ends.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mace_core.ops import OpDef
from mace_core.schema import InferContext, OpSchema, OutputSpec

MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


def _pad_widths(
    rank: int, pads: Sequence[int], axes: Sequence[int] | None
) -> list[tuple[int, int]]:
    """(begin, end) per axis of a rank-``rank`` tensor; ValueError when they do not fit."""
    axes = list(range(rank)) if axes is None else [int(a) for a in axes]
    if len(pads) != 2 * len(axes):
        raise ValueError(
            f"pads must hold 2 values per padded axis ({2 * len(axes)}), got {list(pads)}"
        )
    widths = [(0, 0)] * rank
    for i, axis in enumerate(axes):
        if not -rank <= axis < rank:
            raise ValueError(f"axis {axis} is out of range for a rank-{rank} input")
        widths[axis % rank] = (int(pads[i]), int(pads[len(axes) + i]))
    return widths


def pad(
    data: np.ndarray,
    pads_input: np.ndarray | None = None,
    value_input: np.ndarray | None = None,
    axes_input: np.ndarray | None = None,
    /,
    *,
    mode: str,
    pads: Sequence[int] | None,
    paddings: Sequence[int] | None,
    value: float,
) -> np.ndarray:
    """Crop the negative pads, then pad the positive ones with the mode's values."""
    if mode not in MODES:
        raise ValueError(f"Pad mode must be one of {', '.join(MODES)}, got {mode!r}")
    raw = pads_input if pads_input is not None else pads if pads is not None else paddings
    if raw is None:
        raise ValueError("Pad needs pads (an input since opset 11, an attribute before)")
    axes = None if axes_input is None else axes_input.reshape(-1).tolist()
    widths = _pad_widths(data.ndim, np.asarray(raw).reshape(-1).tolist(), axes)
    crop = tuple(
        slice(max(0, -b), size - max(0, -e))
        for (b, e), size in zip(widths, data.shape, strict=True)
    )
    cropped = data[crop]
    grow = [(max(0, b), max(0, e)) for b, e in widths]
    if mode == "constant":
        fill = value if value_input is None or value_input.size == 0 else value_input.reshape(-1)[0]
        return np.pad(cropped, grow, mode="constant", constant_values=fill).astype(data.dtype)
    return np.pad(cropped, grow, mode=MODES[mode])


def infer_pad(ctx: InferContext) -> list[OutputSpec]:
    x = tuple(ctx.shape(0))
    a = ctx.attrs
    if a["mode"] not in MODES:
        raise ctx.fail(f"mode must be one of {', '.join(MODES)}, got {a['mode']!r}")
    if ctx.has_input(1):
        raw = ctx.value(1, "pads").reshape(-1).tolist()
    elif a["pads"] is not None or a["paddings"] is not None:
        raw = list(a["pads"] if a["pads"] is not None else a["paddings"])
    else:
        raise ctx.fail("pads are missing: give input 1 (opset 11+) or the pads attribute")
    axes = ctx.value(3, "axes").reshape(-1).tolist() if ctx.has_input(3) else None
    try:
        widths = _pad_widths(len(x), raw, axes)
    except ValueError as exc:
        raise ctx.fail(str(exc)) from None
    out = tuple(d + b + e for d, (b, e) in zip(x, widths, strict=True))
    if min(out, default=0) < 0:
        raise ctx.fail(f"pads {raw} crop more than the input {list(x)} holds")
    if a["mode"] != "constant":
        for d, (b, e) in zip(x, widths, strict=True):
            if (b > 0 or e > 0) and d + min(b, 0) + min(e, 0) <= 0:
                raise ctx.fail(f"mode {a['mode']!r} cannot pad an empty axis")
    return [(out, ctx.dtype(0))]


OPS = [
    OpDef(
        OpSchema(
            "Pad",
            infer_pad,
            num_inputs=(1, 4),
            attrs={"mode": "constant", "pads": None, "paddings": None, "value": 0.0},
            doc="pad (constant / reflect / edge / wrap) or crop each axis at both ends",
        ),
        pad,
    ),
]
