"""DepthToSpace and SpaceToDepth: move blocks of channels to or from the spatial axes.

``DCR`` (depth-column-row) orders the moved channels block-offset first, ``CRD``
(column-row-depth) channel first; SpaceToDepth is the exact inverse of DepthToSpace.
"""

from __future__ import annotations

import numpy as np

from mace_core.ops import OpDef
from mace_core.schema import REQUIRED, InferContext, OpSchema, OutputSpec

MODES = ("DCR", "CRD")


def depth_to_space(x: np.ndarray, *, blocksize: int, mode: str) -> np.ndarray:
    """N x C x H x W -> N x C/b^2 x H*b x W*b."""
    n, c, h, w = x.shape
    b = blocksize
    if mode == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(n, c // (b * b), h * b, w * b)


def space_to_depth(x: np.ndarray, *, blocksize: int, mode: str) -> np.ndarray:
    """N x C x H x W -> N x C*b^2 x H/b x W/b."""
    n, c, h, w = x.shape
    b = blocksize
    t = x.reshape(n, c, h // b, b, w // b, b)
    t = t.transpose(0, 3, 5, 1, 2, 4) if mode == "DCR" else t.transpose(0, 1, 3, 5, 2, 4)
    return t.reshape(n, c * b * b, h // b, w // b)


def _check(ctx: InferContext) -> tuple[tuple[int, ...], int]:
    x = tuple(ctx.shape(0))
    if len(x) != 4:
        raise ctx.fail(f"input 0 must be N x C x H x W (rank 4), got {list(x)}")
    b = ctx.attrs["blocksize"]
    if b < 1:
        raise ctx.fail(f"blocksize must be >= 1, got {b}")
    if ctx.attrs["mode"] not in MODES:
        raise ctx.fail(f"mode must be DCR or CRD, got {ctx.attrs['mode']!r}")
    return x, b


def infer_depth_to_space(ctx: InferContext) -> list[OutputSpec]:
    (n, c, h, w), b = _check(ctx)
    if c % (b * b):
        raise ctx.fail(f"channels ({c}) must be a multiple of blocksize^2 ({b * b})")
    return [((n, c // (b * b), h * b, w * b), ctx.dtype(0))]


def infer_space_to_depth(ctx: InferContext) -> list[OutputSpec]:
    (n, c, h, w), b = _check(ctx)
    if h % b or w % b:
        raise ctx.fail(f"height ({h}) and width ({w}) must be multiples of blocksize ({b})")
    return [((n, c * b * b, h // b, w // b), ctx.dtype(0))]


OPS = [
    OpDef(
        OpSchema(
            "DepthToSpace",
            infer_depth_to_space,
            attrs={"blocksize": REQUIRED, "mode": "DCR"},
            doc="rearrange blocks of channels into spatial blocks",
        ),
        depth_to_space,
    ),
    OpDef(
        OpSchema(
            "SpaceToDepth",
            infer_space_to_depth,
            attrs={"blocksize": REQUIRED, "mode": "DCR"},
            doc="rearrange spatial blocks into channels",
        ),
        space_to_depth,
    ),
]
