"""Resize (opset 10+) and Upsample (opsets 7-9): nearest, linear and cubic interpolation.

Interpolation is separable, so each resized axis is handled on its own: every output
position is mapped to a source coordinate (``coordinate_transformation_mode``), and becomes
either one source index (nearest) or a weighted sum of neighbours (linear: 2, cubic: 4).
Neighbours past the edges repeat the edge value. A Resize node with two inputs is the
opset-10 form ``Resize(X, scales)``, which behaves like Upsample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mace_core.errors import ValidationError
from mace_core.ops import OpDef
from mace_core.schema import InferContext, OpSchema, OutputSpec

COORDINATE_MODES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_crop_and_resize",
    "tf_half_pixel_for_nn",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")
MODES = {
    "nearest": "nearest",
    "linear": "linear",
    "bilinear": "linear",
    "trilinear": "linear",
    "cubic": "cubic",
}
POLICIES = ("stretch", "not_larger", "not_smaller")


def output_plan(
    shape: Sequence[int],
    scales: np.ndarray | None,
    sizes: np.ndarray | None,
    axes: Sequence[int] | None,
    policy: str = "stretch",
) -> tuple[list[float], list[int]]:
    """Scale and output size of every axis, from scales or sizes of ``axes`` (all if None)."""
    rank = len(shape)
    axes = list(range(rank)) if axes is None or len(axes) == 0 else [a % rank for a in axes]
    given = sizes if scales is None else scales
    if given is None or np.asarray(given).size != len(axes):
        raise ValueError(
            f"{'scales' if scales is not None else 'sizes'} must hold one value per resized "
            f"axis ({len(axes)}), got {None if given is None else np.asarray(given).tolist()}"
        )
    values = np.asarray(given).reshape(-1)
    scale = [1.0] * rank
    out = [int(d) for d in shape]
    if scales is not None:
        for axis, s in zip(axes, values.astype(np.float64), strict=True):
            if s <= 0:
                raise ValueError(f"scales must be positive, got {values.tolist()}")
            scale[axis], out[axis] = float(s), int(np.floor(shape[axis] * s))
        return scale, out
    for axis, size in zip(axes, values.astype(np.int64), strict=True):
        scale[axis], out[axis] = int(size) / shape[axis], int(size)
    if policy != "stretch":
        pick = min if policy == "not_larger" else max
        common = pick(scale[a] for a in axes)
        for axis in axes:
            scale[axis], out[axis] = common, int(common * shape[axis] + 0.5)
    return scale, out


def source_coords(
    mode: str, out_len: int, in_len: int, scale: float, roi: tuple[float, float]
) -> np.ndarray:
    """The input coordinate each output index maps to."""
    y = np.arange(out_len, dtype=np.float64)
    if mode == "asymmetric":
        return y / scale
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (y + 0.5) / scale - 0.5 if out_len > 1 else np.full(out_len, -0.5)
    if mode == "half_pixel_symmetric":
        offset = in_len / 2 * (1 - out_len / (scale * in_len))
        return offset + (y + 0.5) / scale - 0.5
    if mode == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale
    if mode == "align_corners":
        return y * (in_len - 1) / (out_len - 1) if out_len > 1 else np.zeros(out_len)
    if mode == "tf_crop_and_resize":
        lo, hi = roi
        if out_len == 1:
            return np.full(out_len, (hi - lo) * (in_len - 1) / 2 + lo * (in_len - 1))
        return y * (hi - lo) * (in_len - 1) / (out_len - 1) + lo * (in_len - 1)
    raise ValueError(f"unknown coordinate_transformation_mode {mode!r}")


def nearest_index(x: np.ndarray, nearest_mode: str, scale: float, in_len: int) -> np.ndarray:
    """Source index per output position for nearest interpolation (clamped to the input)."""
    if nearest_mode == "simple":  # opset < 11: floor when upsampling, ceil when downsampling
        nearest_mode = "ceil" if scale < 1 else "floor"
    rounders = {
        "round_prefer_floor": lambda v: np.ceil(v - 0.5),
        "round_prefer_ceil": lambda v: np.floor(v + 0.5),
        "floor": np.floor,
        "ceil": np.ceil,
    }
    return np.clip(rounders[nearest_mode](x), 0, in_len - 1).astype(np.int64)


def cubic_coeffs(t: np.ndarray, a: float) -> np.ndarray:
    """Keys cubic weights of the 4 neighbours at offsets -1, 0, 1, 2 from floor(x)."""
    d = np.stack([t + 1, t, 1 - t, 2 - t], axis=-1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, far)


def interpolation_matrix(
    x: np.ndarray, in_len: int, mode: str, cubic_a: float, exclude_outside: bool
) -> np.ndarray:
    """Dense (out, in) weights for linear or cubic interpolation at source coordinates x."""
    base = np.floor(x)
    # An exact integer coordinate uses the window to its left with ratio 1 (ONNX's choice).
    exact = base == x
    base = np.where(exact, base - 1, base)
    t = x - base
    if mode == "linear":
        coeffs, first = np.stack([1 - t, t], axis=-1), 0
    else:
        coeffs, first = cubic_coeffs(t, cubic_a), -1
    idx = base[:, None].astype(np.int64) + first + np.arange(coeffs.shape[1])[None, :]
    if exclude_outside:
        coeffs = np.where((idx < 0) | (idx >= in_len), 0.0, coeffs)
        total = coeffs.sum(axis=1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    weights = np.zeros((x.size, in_len))
    rows = np.repeat(np.arange(x.size), coeffs.shape[1])
    np.add.at(weights, (rows, np.clip(idx, 0, in_len - 1).reshape(-1)), coeffs.reshape(-1))
    return weights


def _resize(
    x: np.ndarray, scale: list[float], out: list[int], roi: np.ndarray | None, a: dict
) -> np.ndarray:
    mode = MODES[a["mode"]]
    rank = x.ndim
    compute = np.float64 if x.dtype == np.float64 else np.float32
    y = x if mode == "nearest" else x.astype(compute)
    for axis in range(rank):
        in_len = x.shape[axis]
        lo, hi = (0.0, 1.0) if roi is None else (float(roi[axis]), float(roi[rank + axis]))
        identity = out[axis] == in_len and scale[axis] == 1.0 and (lo, hi) == (0.0, 1.0)
        if identity and a["coordinate_transformation_mode"] != "tf_half_pixel_for_nn":
            continue
        coords = source_coords(
            a["coordinate_transformation_mode"], out[axis], in_len, scale[axis], (lo, hi)
        )
        if mode == "nearest":
            y = np.take(y, nearest_index(coords, a["nearest_mode"], scale[axis], in_len), axis)
        else:
            m = interpolation_matrix(
                coords, in_len, mode, a["cubic_coeff_a"], bool(a["exclude_outside"])
            ).astype(compute)
            y = np.moveaxis(np.tensordot(m, y, axes=([1], [axis])), 0, axis)
        if a["coordinate_transformation_mode"] == "tf_crop_and_resize":
            outside = ((coords < 0) | (coords > in_len - 1)).reshape(
                [-1 if i == axis else 1 for i in range(rank)]
            )
            y = np.where(outside, np.asarray(a["extrapolation_value"], y.dtype), y)
    if np.issubdtype(x.dtype, np.integer) and y.dtype != x.dtype:
        info = np.iinfo(x.dtype)
        y = np.clip(np.rint(y), info.min, info.max)
    return y.astype(x.dtype, copy=False)


def _legacy_attrs(mode: str) -> dict:
    return {
        "mode": mode,
        "coordinate_transformation_mode": "asymmetric",
        "nearest_mode": "simple",
        "cubic_coeff_a": -0.75,
        "exclude_outside": 0,
        "extrapolation_value": 0.0,
    }


def resize(
    x: np.ndarray,
    roi: np.ndarray | None = None,
    scales: np.ndarray | None = None,
    sizes: np.ndarray | None = None,
    /,
    **attrs,
) -> np.ndarray:
    """Resize X by ``scales`` or to ``sizes`` (of ``axes``); see the module docstring."""
    _check_attrs(attrs, ValidationError)
    if scales is None and sizes is None and roi is not None:  # opset 10: Resize(X, scales)
        scale, out = output_plan(x.shape, roi, None, None)
        return _resize(x, scale, out, None, _legacy_attrs(attrs["mode"]))
    scales = scales if scales is not None and scales.size else None
    sizes = sizes if sizes is not None and sizes.size else None
    scale, out = output_plan(
        x.shape, scales, sizes, attrs["axes"], attrs["keep_aspect_ratio_policy"]
    )
    full_roi = None
    if (
        roi is not None
        and roi.size
        and attrs["coordinate_transformation_mode"] == "tf_crop_and_resize"
    ):
        full_roi = _full_roi(roi.astype(np.float64).reshape(-1), x.ndim, attrs["axes"])
    return _resize(x, scale, out, full_roi, attrs)


def _full_roi(roi: np.ndarray, rank: int, axes: Sequence[int] | None) -> np.ndarray:
    """ROI starts then ends for every axis, from the ROI of ``axes``."""
    if axes is None or len(axes) == 0:
        return roi
    full = np.array([0.0] * rank + [1.0] * rank)
    for i, axis in enumerate(axes):
        full[axis % rank], full[rank + axis % rank] = roi[i], roi[len(axes) + i]
    return full


def upsample(
    x: np.ndarray,
    scales_input: np.ndarray | None = None,
    /,
    *,
    mode: str,
    scales: Sequence[float] | None,
    height_scale: float | None,
    width_scale: float | None,
) -> np.ndarray:
    """Upsample (opsets 1-9): asymmetric coordinates; nearest takes the floor when
    upsampling, the ceiling when downsampling."""
    factors = _upsample_scales(x.ndim, scales_input, scales, height_scale, width_scale)
    scale, out = output_plan(x.shape, factors, None, None)
    if mode not in MODES or MODES[mode] == "cubic":
        raise ValidationError(f"Upsample mode must be nearest or linear, got {mode!r}")
    return _resize(x, scale, out, None, _legacy_attrs(mode))


def _upsample_scales(rank, scales_input, scales, height_scale, width_scale) -> np.ndarray:
    if scales_input is not None:
        return np.asarray(scales_input, dtype=np.float64).reshape(-1)
    if scales is not None:
        return np.asarray(scales, dtype=np.float64)
    if height_scale is not None and width_scale is not None and rank == 4:
        return np.array([1.0, 1.0, height_scale, width_scale])
    raise ValueError("Upsample needs scales (an input since opset 9, an attribute before)")


def _check_attrs(a: dict, error: type[Exception]) -> None:
    checks = [
        ("mode", MODES),
        ("coordinate_transformation_mode", COORDINATE_MODES),
        ("nearest_mode", NEAREST_MODES),
        ("keep_aspect_ratio_policy", POLICIES),
    ]
    for name, allowed in checks:
        if a[name] not in allowed:
            raise error(f"{name} must be one of {', '.join(allowed)}, got {a[name]!r}")
    if a["antialias"]:
        raise error("antialias=1 is not supported; only antialias=0 resizing is implemented")


# -- shape inference --------------------------------------------------------------------
def infer_resize(ctx: InferContext) -> list[OutputSpec]:
    x = tuple(ctx.shape(0))
    try:
        _check_attrs(ctx.attrs, ValueError)
        if len(ctx.node.inputs) == 2 and ctx.has_input(1):  # opset 10: Resize(X, scales)
            _, out = output_plan(x, ctx.value(1, "scales"), None, None)
        else:
            scales = ctx.value(2, "scales") if ctx.has_input(2) else None
            scales = scales if scales is not None and scales.size else None
            sizes = None
            if scales is None:
                if not ctx.has_input(3):
                    raise ValueError("Resize needs scales (input 2) or sizes (input 3)")
                sizes = ctx.value(3, "sizes")
            _, out = output_plan(
                x, scales, sizes, ctx.attrs["axes"], ctx.attrs["keep_aspect_ratio_policy"]
            )
    except ValueError as exc:
        raise ctx.fail(str(exc)) from None
    return [(tuple(out), ctx.dtype(0))]


def infer_upsample(ctx: InferContext) -> list[OutputSpec]:
    x = tuple(ctx.shape(0))
    a = ctx.attrs
    try:
        given = ctx.value(1, "scales") if ctx.has_input(1) else None
        factors = _upsample_scales(len(x), given, a["scales"], a["height_scale"], a["width_scale"])
        _, out = output_plan(x, factors, None, None)
    except ValueError as exc:
        raise ctx.fail(str(exc)) from None
    if a["mode"] not in MODES or MODES[a["mode"]] == "cubic":
        raise ctx.fail(f"mode must be nearest or linear, got {a['mode']!r}")
    return [(tuple(out), ctx.dtype(0))]


OPS = [
    OpDef(
        OpSchema(
            "Resize",
            infer_resize,
            num_inputs=(1, 4),
            attrs={
                "antialias": 0,
                "axes": None,
                "coordinate_transformation_mode": "half_pixel",
                "cubic_coeff_a": -0.75,
                "exclude_outside": 0,
                "extrapolation_value": 0.0,
                "keep_aspect_ratio_policy": "stretch",
                "mode": "nearest",
                "nearest_mode": "round_prefer_floor",
            },
            doc="resize X(, roi, scales, sizes) by nearest / linear / cubic interpolation",
        ),
        resize,
    ),
    OpDef(
        OpSchema(
            "Upsample",
            infer_upsample,
            num_inputs=(1, 2),
            attrs={"mode": "nearest", "scales": None, "height_scale": None, "width_scale": None},
            doc="opsets 1-9 upsampling by scales (input or attribute); asymmetric coordinates",
        ),
        upsample,
    ),
]
