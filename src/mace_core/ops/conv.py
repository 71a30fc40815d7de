"""Conv: N-D convolution (1-D, 2-D, 3-D...) with groups, dilations, padding, fused activation.

Also home of the sliding-window geometry shared by ConvTranspose and the pooling ops:
:func:`window_attrs` (attribute defaults and checks), :func:`window_geometry` (padding and
output size per spatial axis) and :func:`sliding_windows` (a strided view of every window).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mace_core.ops import OpDef
from mace_core.ops.fused_activation import ACTIVATION_ATTRS, apply_activation
from mace_core.schema import InferContext, OpSchema, OutputSpec

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def window_attrs(
    n: int,
    kernel: Sequence[int],
    strides: Sequence[int] | None,
    dilations: Sequence[int] | None,
    pads: Sequence[int] | None,
    auto_pad: str = "NOTSET",
) -> tuple[list[int], list[int], list[int]]:
    """Strides, dilations and pads for ``n`` spatial axes with defaults; ValueError if bad."""
    if auto_pad not in AUTO_PADS:
        raise ValueError(f"auto_pad must be one of {', '.join(AUTO_PADS)}, got {auto_pad!r}")

    def expand(name: str, value: Sequence[int] | None, count: int, default: int) -> list[int]:
        if value is None or len(value) == 0:
            return [default] * count
        if len(value) != count:
            raise ValueError(f"{name} must have {count} values, got {list(value)}")
        return [int(v) for v in value]

    if len(kernel) != n:
        raise ValueError(f"kernel_shape must have {n} values, got {list(kernel)}")
    s = expand("strides", strides, n, 1)
    d = expand("dilations", dilations, n, 1)
    p = expand("pads", pads, 2 * n, 0)
    if min(s, default=1) < 1 or min(d, default=1) < 1 or min(kernel, default=1) < 1:
        raise ValueError(
            f"strides, dilations and kernel_shape must be >= 1 (got {s}, {d}, {list(kernel)})"
        )
    return s, d, p


def window_geometry(
    in_shape: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pads: Sequence[int],
    auto_pad: str = "NOTSET",
    ceil_mode: bool = False,
) -> tuple[list[int], list[int], list[int]]:
    """``(pads_begin, pads_end, output_size)`` per spatial axis of a sliding-window op.

    ``SAME_UPPER`` puts the odd padding element at the end, ``SAME_LOWER`` at the start.
    With ``ceil_mode`` the last window may hang over the end but must start inside the input
    or its begin padding (the rule of PyTorch and onnxruntime).
    """
    n = len(in_shape)
    begin, end, out = [], [], []
    for i in range(n):
        size, stride = int(in_shape[i]), strides[i]
        extent = (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-size // stride)
            total = max(0, (o - 1) * stride + extent - size)
            b = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            e = total - b
        else:
            b, e = (0, 0) if auto_pad == "VALID" else (pads[i], pads[n + i])
            span = size + b + e - extent
            if span < 0:
                raise ValueError(
                    f"spatial axis {i}: the window (kernel {kernel[i]}, dilation "
                    f"{dilations[i]}) is larger than the padded input ({size} + {b} + {e})"
                )
            o = (-(-span // stride) if ceil_mode else span // stride) + 1
            if ceil_mode and (o - 1) * stride >= size + b:
                o -= 1
        begin.append(b)
        end.append(e)
        out.append(o)
    return begin, end, out


def pad_spatial(
    x: np.ndarray, begin: Sequence[int], end: Sequence[int], value: float | int = 0
) -> np.ndarray:
    """Pad the spatial axes (2...) of an N x C x ... tensor with a constant."""
    if not any(begin) and not any(end):
        return x
    width = [(0, 0), (0, 0), *zip(begin, end, strict=True)]
    return np.pad(x, width, mode="constant", constant_values=value)


def sliding_windows(
    xp: np.ndarray,
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    out: Sequence[int],
) -> np.ndarray:
    """Read-only view ``(N, C, *out, *kernel)`` of every window of a padded input ``xp``.

    ``xp`` must be large enough for ``out`` windows on each axis (see :func:`pad_to_fit`).
    """
    spatial = xp.strides[2:]
    shape = (*xp.shape[:2], *out, *kernel)
    strides_b = (
        *xp.strides[:2],
        *(st * s for st, s in zip(spatial, strides, strict=True)),
        *(st * d for st, d in zip(spatial, dilations, strict=True)),
    )
    return np.lib.stride_tricks.as_strided(xp, shape, strides_b, writeable=False)


def pad_to_fit(
    x: np.ndarray,
    begin: Sequence[int],
    end: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    out: Sequence[int],
    value: float | int = 0,
) -> tuple[np.ndarray, list[int]]:
    """Pad ``x`` by ``begin``/``end`` and, past the end, by whatever the last windows need.

    Returns the padded tensor and the extra end padding per axis (non-zero with ceil_mode).
    """
    extra = []
    for i, size in enumerate(x.shape[2:]):
        need = (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
        extra.append(max(0, need - (size + begin[i] + end[i])))
    return pad_spatial(x, begin, [e + x_ for e, x_ in zip(end, extra, strict=True)], value), extra


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype arithmetic runs in: float32 for float16 inputs, else the input's."""
    return np.dtype(np.float32) if dtype == np.float16 else np.dtype(dtype)


# -- Conv -------------------------------------------------------------------------------
def conv(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    *,
    auto_pad: str,
    dilations: Sequence[int] | None,
    group: int,
    kernel_shape: Sequence[int] | None,
    pads: Sequence[int] | None,
    strides: Sequence[int] | None,
    activation: str = "",
    activation_params: Sequence[float] = (),
) -> np.ndarray:
    """Grouped convolution by im2col: gather every window, then one matmul per group."""
    nsp = x.ndim - 2
    kernel = list(w.shape[2:])
    s, d, p = window_attrs(nsp, kernel, strides, dilations, pads, auto_pad)
    begin, end, out = window_geometry(x.shape[2:], kernel, s, d, p, auto_pad)
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    acc = compute_dtype(x.dtype)
    xp = pad_spatial(x.astype(acc, copy=False), begin, end)
    cols = sliding_windows(xp, kernel, s, d, out)  # (N, C, *out, *k)
    cols = cols.reshape(n, group, cg, *out, *kernel)
    cols = np.moveaxis(cols, 2, 2 + nsp)  # (N, G, *out, Cg, *k)
    pixels, taps = math.prod(out), cg * math.prod(kernel)
    cols = cols.reshape(n, group, pixels, taps)
    wm = w.astype(acc, copy=False).reshape(group, mg, taps).transpose(0, 2, 1)
    y = np.matmul(cols, wm)  # (N, G, P, Mg)
    y = y.transpose(0, 1, 3, 2).reshape(n, m, *out)
    if b is not None:
        y = y + b.astype(acc, copy=False).reshape(m, *([1] * nsp))
    return apply_activation(y, activation, activation_params).astype(x.dtype, copy=False)


def check_bias(ctx: InferContext, index: int, channels: int) -> None:
    """Fail unless optional input ``index`` (a bias) is absent or has shape ``(channels,)``."""
    if ctx.has_input(index) and tuple(ctx.shape(index)) != (channels,):
        raise ctx.fail(
            f"input {index} (B) must have shape [{channels}] (one value per output channel), "
            f"got {list(ctx.shape(index))}"
        )


def check_conv_inputs(ctx: InferContext, what: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Shapes of X and W after checking ranks and kernel_shape; ``what`` names W's layout."""
    x, w = tuple(ctx.shape(0)), tuple(ctx.shape(1))
    if len(x) < 3:
        raise ctx.fail(f"input 0 (X) must be N x C x D1 x ... (rank >= 3), got {list(x)}")
    if len(w) != len(x):
        raise ctx.fail(f"input 1 (W) must be {what} of rank {len(x)}, got {list(w)}")
    kernel_shape = ctx.attrs["kernel_shape"]
    if kernel_shape is not None and len(kernel_shape) and list(kernel_shape) != list(w[2:]):
        raise ctx.fail(f"kernel_shape {list(kernel_shape)} does not match W's {list(w[2:])}")
    if ctx.attrs["group"] < 1:
        raise ctx.fail(f"group must be >= 1, got {ctx.attrs['group']}")
    return x, w


def infer_conv(ctx: InferContext) -> list[OutputSpec]:
    x, w = check_conv_inputs(ctx, "M x C/group x k1 x ...")
    group = ctx.attrs["group"]
    if x[1] != w[1] * group:
        raise ctx.fail(
            f"input 0 (X) has {x[1]} channels but W {list(w)} with group={group} expects "
            f"{w[1]} x {group} = {w[1] * group}"
        )
    if w[0] % group:
        raise ctx.fail(f"W has {w[0]} output channels, not a multiple of group={group}")
    check_bias(ctx, 2, w[0])
    a = ctx.attrs
    try:
        s, d, p = window_attrs(
            len(x) - 2, w[2:], a["strides"], a["dilations"], a["pads"], a["auto_pad"]
        )
        _, _, out = window_geometry(x[2:], w[2:], s, d, p, a["auto_pad"])
    except ValueError as exc:
        raise ctx.fail(str(exc)) from None
    return [((x[0], w[0], *out), ctx.dtype(0))]


WINDOW_ATTRS = {"auto_pad": "NOTSET", "dilations": None, "pads": None, "strides": None}

OPS = [
    OpDef(
        OpSchema(
            "Conv",
            infer_conv,
            num_inputs=(2, 3),
            attrs={**WINDOW_ATTRS, "group": 1, "kernel_shape": None, **ACTIVATION_ATTRS},
            doc="N-D convolution of X (N x C x D1...) with W (M x C/group x k1...), plus B",
        ),
        conv,
    ),
]
