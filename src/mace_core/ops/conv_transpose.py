"""ConvTranspose: the gradient of Conv with respect to its input ("deconvolution")."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mace_core.ops import OpDef
from mace_core.ops.conv import (
    WINDOW_ATTRS,
    check_bias,
    check_conv_inputs,
    compute_dtype,
    window_attrs,
)
from mace_core.ops.fused_activation import ACTIVATION_ATTRS, apply_activation
from mace_core.schema import InferContext, OpSchema, OutputSpec


def transpose_geometry(
    in_shape: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pads: Sequence[int],
    output_padding: Sequence[int] | None,
    output_shape: Sequence[int] | None,
    auto_pad: str,
) -> tuple[list[int], list[int], list[int]]:
    """``(pads_begin, pads_end, output_size)`` per spatial axis, as the ONNX spec defines them.

    The full (unpadded) output is ``stride * (in - 1) + output_padding + extent``; pads crop it.
    When ``output_shape`` is given, or auto_pad is SAME_* (output ``in * stride``), the pads are
    derived from the total: SAME_UPPER puts the odd element at the end, otherwise at the start.
    """
    n = len(in_shape)
    op = list(output_padding) if output_padding is not None and len(output_padding) else [0] * n
    if len(op) != n:
        raise ValueError(f"output_padding must have {n} values, got {op}")
    target = list(output_shape) if output_shape is not None and len(output_shape) else None
    if target is not None and len(target) == n + 2:  # some exporters give N, C too
        target = target[2:]
    if target is not None and len(target) != n:
        raise ValueError(f"output_shape must have {n} values, got {list(output_shape or [])}")
    if target is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = [int(size) * s for size, s in zip(in_shape, strides, strict=True)]
    begin, end, out = [], [], []
    for i in range(n):
        full = strides[i] * (int(in_shape[i]) - 1) + op[i] + (kernel[i] - 1) * dilations[i] + 1
        if target is not None:
            total = full - target[i]
            b = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            e = total - b
        else:
            b, e = (0, 0) if auto_pad == "VALID" else (pads[i], pads[n + i])
        begin.append(b)
        end.append(e)
        out.append(full - b - e)
    return begin, end, out


def conv_transpose(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    *,
    auto_pad: str,
    dilations: Sequence[int] | None,
    group: int,
    kernel_shape: Sequence[int] | None,
    output_padding: Sequence[int] | None,
    output_shape: Sequence[int] | None,
    pads: Sequence[int] | None,
    strides: Sequence[int] | None,
    activation: str = "",
    activation_params: Sequence[float] = (),
) -> np.ndarray:
    """Every input pixel times W, scattered into the output: a matmul, then one strided
    accumulation per kernel tap (col2im)."""
    nsp = x.ndim - 2
    kernel = list(w.shape[2:])
    s, d, p = window_attrs(nsp, kernel, strides, dilations, pads, auto_pad)
    in_shape = list(x.shape[2:])
    begin, end, out = transpose_geometry(
        in_shape, kernel, s, d, p, output_padding, output_shape, auto_pad
    )
    n, c = x.shape[:2]
    cg, mg = c // group, w.shape[1]
    m = mg * group
    acc = compute_dtype(x.dtype)
    pixels, taps = math.prod(in_shape), math.prod(kernel)
    xm = x.astype(acc, copy=False).reshape(n, group, cg, pixels).transpose(0, 1, 3, 2)
    wm = w.astype(acc, copy=False).reshape(group, cg, mg * taps)
    cols = np.matmul(xm, wm).reshape(n, group, *in_shape, mg, *kernel)
    cols = np.moveaxis(cols, 2 + nsp, 2).reshape(n, m, *in_shape, *kernel)
    # The canvas holds the full output plus any negative padding (output_shape > full).
    lead = [max(0, -v) for v in begin]
    size = [o + max(0, v) + max(0, e) for o, v, e in zip(out, begin, end, strict=True)]
    canvas = np.zeros((n, m, *size), dtype=acc)
    for tap in np.ndindex(*kernel):
        region = tuple(
            slice(lead[i] + t * d[i], lead[i] + t * d[i] + s[i] * (in_shape[i] - 1) + 1, s[i])
            for i, t in enumerate(tap)
        )
        index = (slice(None),) * (2 + nsp) + tap
        canvas[(slice(None), slice(None), *region)] += cols[index]
    crop = tuple(slice(max(0, v), max(0, v) + o) for v, o in zip(begin, out, strict=True))
    y = canvas[(slice(None), slice(None), *crop)]
    if b is not None:
        y = y + b.astype(acc, copy=False).reshape(m, *([1] * nsp))
    return apply_activation(y, activation, activation_params).astype(x.dtype, copy=False)


def infer_conv_transpose(ctx: InferContext) -> list[OutputSpec]:
    x, w = check_conv_inputs(ctx, "C x M/group x k1 x ...")
    group = ctx.attrs["group"]
    if x[1] != w[0]:
        raise ctx.fail(f"input 0 (X) has {x[1]} channels but W {list(w)} expects {w[0]}")
    if w[0] % group:
        raise ctx.fail(f"W has {w[0]} input channels, not a multiple of group={group}")
    m = w[1] * group
    check_bias(ctx, 2, m)
    a = ctx.attrs
    try:
        s, d, p = window_attrs(
            len(x) - 2, w[2:], a["strides"], a["dilations"], a["pads"], a["auto_pad"]
        )
        _, _, out = transpose_geometry(
            x[2:], w[2:], s, d, p, a["output_padding"], a["output_shape"], a["auto_pad"]
        )
    except ValueError as exc:
        raise ctx.fail(str(exc)) from None
    if min(out, default=1) < 1:
        raise ctx.fail(f"pads {p} leave an empty output {out}")
    return [((x[0], m, *out), ctx.dtype(0))]


OPS = [
    OpDef(
        OpSchema(
            "ConvTranspose",
            infer_conv_transpose,
            num_inputs=(2, 3),
            attrs={
                **WINDOW_ATTRS,
                "group": 1,
                "kernel_shape": None,
                "output_padding": None,
                "output_shape": None,
                **ACTIVATION_ATTRS,
            },
            doc="transposed convolution of X (N x C x D1...) with W (C x M/group x k1...)",
        ),
        conv_transpose,
    ),
]
