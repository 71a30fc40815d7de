"""Normalizations: BatchNormalization (inference), InstanceNormalization, LayerNormalization."""

from __future__ import annotations

import numpy as np

from mace_core.dtypes import DType
from mace_core.errors import ValidationError
from mace_core.ops import OpDef
from mace_core.ops.conv import compute_dtype
from mace_core.schema import InferContext, OpSchema, OutputSpec, normalize_axis

_TRAINING = (
    "BatchNormalization in training mode (training_mode=1, or running statistics requested "
    "as outputs) is not supported: mace-core runs inference only; re-export the model in "
    "eval mode"
)


def _per_channel(param: np.ndarray, rank: int, dtype: np.dtype) -> np.ndarray:
    """A per-channel (C,) parameter shaped to broadcast over N x C x D1 x ...; a (C, D1...)
    parameter (the old ``spatial=0`` form) broadcasts over N only."""
    p = param.astype(dtype, copy=False)
    if p.ndim == 1:
        return p.reshape(-1, *([1] * (rank - 2)))
    return p.reshape(1, *p.shape)


def batch_normalization(
    x: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    *,
    epsilon: float,
    momentum: float,
    training_mode: int,
    spatial: int,
    is_test: int,
    consumed_inputs: list[int] | None,
) -> np.ndarray:
    """``scale * (x - mean) / sqrt(var + epsilon) + bias`` with the running statistics."""
    if training_mode:
        raise ValidationError(_TRAINING)
    acc = compute_dtype(x.dtype)
    rank = max(x.ndim, 2)
    inv = 1.0 / np.sqrt(_per_channel(var, rank, acc) + np.asarray(epsilon, dtype=acc))
    y = (x.astype(acc, copy=False) - _per_channel(mean, rank, acc)) * inv
    y = y * _per_channel(scale, rank, acc) + _per_channel(bias, rank, acc)
    return y.astype(x.dtype, copy=False)


def instance_normalization(
    x: np.ndarray, scale: np.ndarray, bias: np.ndarray, *, epsilon: float
) -> np.ndarray:
    """Normalize each (sample, channel) over its spatial axes, then scale and shift."""
    acc = compute_dtype(x.dtype)
    xf = x.astype(acc, copy=False)
    axes = tuple(range(2, x.ndim))
    mean = xf.mean(axis=axes, keepdims=True)
    var = np.square(xf - mean).mean(axis=axes, keepdims=True)
    y = (xf - mean) / np.sqrt(var + np.asarray(epsilon, dtype=acc))
    y = y * _per_channel(scale, x.ndim, acc) + _per_channel(bias, x.ndim, acc)
    return y.astype(x.dtype, copy=False)


def layer_normalization(
    x: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    axis: int,
    epsilon: float,
    stash_type: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalize over axes ``axis...`` (statistics in float32 when stash_type is 1);
    returns Y, Mean and InvStdDev (both shaped like X with the normalized axes set to 1)."""
    stash = np.dtype(np.float32) if stash_type == 1 else compute_dtype(x.dtype)
    axes = tuple(range(axis % x.ndim, x.ndim))
    xf = x.astype(stash, copy=False)
    mean = xf.mean(axis=axes, keepdims=True)
    var = np.square(xf - mean).mean(axis=axes, keepdims=True)
    inv_std = (1.0 / np.sqrt(var + np.asarray(epsilon, dtype=stash))).astype(stash)
    normalized = ((xf - mean) * inv_std).astype(x.dtype, copy=False)
    acc = compute_dtype(x.dtype)
    y = normalized.astype(acc, copy=False) * scale.astype(acc, copy=False)
    if bias is not None:
        y = y + bias.astype(acc, copy=False)
    return y.astype(x.dtype, copy=False), mean.astype(stash), inv_std


# -- shape inference --------------------------------------------------------------------
def _check_params(ctx: InferContext, first: int, names: list[str], want: tuple[int, ...]) -> None:
    for i, name in enumerate(names, start=first):
        if ctx.has_input(i) and tuple(ctx.shape(i)) != want:
            raise ctx.fail(
                f"input {i} ({name}) must have shape {list(want)}, got {list(ctx.shape(i))}"
            )


def infer_batch_normalization(ctx: InferContext) -> list[OutputSpec]:
    if ctx.attrs["training_mode"] or len([o for o in ctx.node.outputs if o]) > 1:
        raise ctx.fail(_TRAINING)
    x = tuple(ctx.shape(0))
    if len(x) < 2:
        raise ctx.fail(f"input 0 (X) must be N x C x ... (rank >= 2), got {list(x)}")
    params = ["scale", "B", "mean", "var"]
    if all(len(ctx.shape(i)) == 1 for i in range(1, 5)):
        _check_params(ctx, 1, params, (x[1],))
    else:
        _check_params(ctx, 1, params, x[1:])
    return [(x, ctx.dtype(0))]


def infer_instance_normalization(ctx: InferContext) -> list[OutputSpec]:
    x = tuple(ctx.shape(0))
    if len(x) < 3:
        raise ctx.fail(f"input 0 (X) must be N x C x D1 x ... (rank >= 3), got {list(x)}")
    _check_params(ctx, 1, ["scale", "B"], (x[1],))
    return [(x, ctx.dtype(0))]


def infer_layer_normalization(ctx: InferContext) -> list[OutputSpec]:
    x = tuple(ctx.shape(0))
    axis = normalize_axis(ctx, ctx.attrs["axis"], len(x))
    normalized = x[axis:]
    for i, name in ((1, "Scale"), (2, "B")):
        if not ctx.has_input(i):
            continue
        shape = tuple(ctx.shape(i))
        if len(shape) > len(normalized) or any(
            d not in (1, n) for d, n in zip(shape[::-1], normalized[::-1], strict=False)
        ):
            raise ctx.fail(
                f"input {i} ({name}) {list(shape)} does not broadcast to the "
                f"normalized dimensions {list(normalized)}"
            )
    stats = (*x[:axis], *([1] * (len(x) - axis)))
    stash = DType.FLOAT32 if ctx.attrs["stash_type"] == 1 else ctx.dtype(0)
    return [(x, ctx.dtype(0)), (stats, stash), (stats, stash)]


OPS = [
    OpDef(
        OpSchema(
            "BatchNormalization",
            infer_batch_normalization,
            num_inputs=(5, 5),
            num_outputs=(1, 5),
            attrs={
                "epsilon": 1e-5,
                "momentum": 0.9,
                "training_mode": 0,
                "spatial": 1,  # opset < 9
                "is_test": 0,  # opset < 7
                "consumed_inputs": None,  # opset < 6
            },
            doc="inference-mode batch norm: scale * (X - mean) / sqrt(var + epsilon) + B",
        ),
        batch_normalization,
    ),
    OpDef(
        OpSchema(
            "InstanceNormalization",
            infer_instance_normalization,
            num_inputs=(3, 3),
            attrs={"epsilon": 1e-5},
            doc="per (sample, channel) normalization over spatial axes, then scale and B",
        ),
        instance_normalization,
    ),
    OpDef(
        OpSchema(
            "LayerNormalization",
            infer_layer_normalization,
            num_inputs=(2, 3),
            num_outputs=(1, 3),
            attrs={"axis": -1, "epsilon": 1e-5, "stash_type": 1},
            doc="normalization over the trailing axes from `axis`; optional Mean, InvStdDev",
        ),
        layer_normalization,
    ),
]
