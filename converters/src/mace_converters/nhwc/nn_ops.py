"""Layout-aware emitters for convolution, pooling, dense, normalization and resize ops.

Spatial ops run on the channels-first view of their input (``channels_last=True``, the
TF/TFLite default) and produce their output channels-first; with ``channels_last=False``
(TF ``data_format="NCHW"``) the source layout already is ONNX's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mace_converters.nhwc.builder import LayoutBuilder, Perm, channels_first, identity
from mace_converters.nhwc.tensor_ops import ints, with_activation
from mace_core.errors import ConversionError

Padding = str | Sequence[tuple[int, int]]  # "SAME", "VALID" or explicit (begin, end) pairs


def spatial_perm(rank: int, channels_last: bool) -> Perm:
    return channels_first(rank) if channels_last else identity(rank)


def pad_attrs(padding: Padding) -> dict:
    """TF SAME pads the odd element at the end, as ONNX SAME_UPPER does."""
    if padding == "SAME":
        return {"auto_pad": "SAME_UPPER"}
    if padding == "VALID":
        return {"auto_pad": "VALID"}
    pairs = [tuple(int(v) for v in p) for p in padding]  # type: ignore[union-attr]
    return {"pads": [p[0] for p in pairs] + [p[1] for p in pairs]}


def weight(b: LayoutBuilder, key: str, perm: Perm, reshape: Sequence[int] | None = None
           ) -> str:
    """Weights ``key`` as ``source.reshape(reshape).transpose(perm)`` (folded if constant)."""
    if reshape is None:
        return b.get(key, perm)
    value = b.value(key)
    if value.const is not None:
        arr = np.transpose(value.const.reshape(tuple(reshape)), perm)
        return b.const_input(np.ascontiguousarray(arr), f"{key}_w")
    flat = b.temp("Reshape", [b.get(key), ints(b, reshape, f"{key}_shape")], base=f"{key}_r")
    return b.temp("Transpose", [flat], {"perm": list(perm)}, base=f"{key}_w")


def conv2d(b: LayoutBuilder, key: str, x: str, w: str, bias: str | None, *,
           strides: Sequence[int], dilations: Sequence[int], padding: Padding, group: int = 1,
           activation: str = "", channels_last: bool = True) -> None:
    """Conv with mace weights ``w`` (OIHW) and optional bias; strides/dilations (H, W)."""
    perm = spatial_perm(4, channels_last)
    attrs = {"strides": [int(s) for s in strides], "dilations": [int(d) for d in dilations],
             "group": int(group), **pad_attrs(padding)}
    inputs = [b.get(x, perm), w] + ([bias] if bias else [])
    with_activation(b, "Conv", inputs, key, perm, attrs, activation)


def conv_transpose(b: LayoutBuilder, key: str, x: str, w: str, bias: str | None, *,
                   in_hw: Sequence[int], out_hw: Sequence[int], kernel: Sequence[int],
                   strides: Sequence[int], padding: str, activation: str = "",
                   channels_last: bool = True) -> None:
    """ConvTranspose (weights ``w`` as [C_in, C_out, kH, kW]) giving spatial size ``out_hw``.

    TF pads the transposed conv as the conv it is the gradient of (SAME: total
    ``max((in - 1) * s + k - out, 0)``, the odd element at the end); output rows that
    neither the kernel nor the padding accounts for become ``output_padding``.
    """
    begins, ends, extra = [], [], []
    for n_in, n_out, k, s in zip(in_hw, out_hw, kernel, strides, strict=True):
        total = max((n_in - 1) * s + k - n_out, 0) if padding == "SAME" else 0
        begins.append(total // 2)
        ends.append(total - total // 2)
        extra.append(n_out - ((n_in - 1) * s + k - total))
        if not 0 <= extra[-1] < max(s, 1):
            raise ConversionError(f"transposed conv producing {key!r}: output size {n_out} "
                                  f"cannot come from input size {n_in} (kernel {k}, stride {s})")
    perm = spatial_perm(4, channels_last)
    attrs = {"strides": [int(s) for s in strides], "pads": begins + ends,
             "kernel_shape": [int(k) for k in kernel]}
    if any(extra):
        attrs["output_padding"] = extra
    inputs = [b.get(x, perm), w] + ([bias] if bias else [])
    with_activation(b, "ConvTranspose", inputs, key, perm, attrs, activation)


def pool(b: LayoutBuilder, op: str, key: str, x: str, *, kernel: Sequence[int],
         strides: Sequence[int], padding: Padding, activation: str = "",
         channels_last: bool = True) -> None:
    """MaxPool / AveragePool; TF average pooling never counts padded elements."""
    perm = spatial_perm(4, channels_last)
    attrs = {"kernel_shape": [int(k) for k in kernel], "strides": [int(s) for s in strides],
             **pad_attrs(padding)}
    if op == "AveragePool":
        attrs["count_include_pad"] = 0
    with_activation(b, op, [b.get(x, perm)], key, perm, attrs, activation)


def batch_norm(b: LayoutBuilder, key: str, x: str, scale: str, offset: str, mean: str,
               variance: str, epsilon: float, channels_last: bool = True) -> None:
    perm = spatial_perm(b.rank(x), channels_last)
    inputs = [b.get(x, perm)] + [b.get(k) for k in (scale, offset, mean, variance)]
    b.produce("BatchNormalization", inputs, key, perm, {"epsilon": float(epsilon)})


def dense(b: LayoutBuilder, key: str, x: str, w: str, bias: str | None, *, units_last: bool,
          keep_dims: bool, activation: str = "") -> None:
    """TFLite FULLY_CONNECTED (``w`` is [N, K]) or a 2-D matmul with weights [K, N].

    Rank-2 inputs become Gemm; higher ranks are flattened to [-1, K] unless ``keep_dims``,
    where a broadcasting MatMul (+ Add) keeps the leading dims.
    """
    rank = b.rank(x)
    src = b.get(x)
    bias_name = b.get(bias) if bias else None
    trans = {"transB": 1} if units_last else {}
    if rank > 2 and keep_dims:
        wt = b.get(w, (1, 0)) if units_last else b.get(w)
        if bias_name is None:
            with_activation(b, "MatMul", [src, wt], key, identity(rank), None, activation)
            return
        raw = b.temp("MatMul", [src, wt], base=f"{key}_matmul")
        with_activation(b, "Add", [raw, bias_name], key, identity(rank), None, activation)
        return
    if rank != 2:
        k = b.const(w, "dense weights").shape[1 if units_last else 0] if b.is_const(w) else -1
        if k < 0:
            raise ConversionError(f"dense layer producing {key!r}: input rank {rank} needs "
                                  "constant weights")
        src = b.temp("Reshape", [src, ints(b, [-1, k], f"{key}_flat")], base=f"{key}_flat")
    inputs = [src, b.get(w)] + ([bias_name] if bias_name else [])
    with_activation(b, "Gemm", inputs, key, identity(2), trans, activation)


def matmul(b: LayoutBuilder, key: str, a: str, c: str, adj_a: bool = False,
           adj_c: bool = False) -> None:
    """Batched matrix product; ``adj_*`` transposes the last two axes of that input."""

    def operand(k: str, adj: bool) -> str:
        r = b.rank(k)
        if not adj:
            return b.get(k)
        return b.get(k, (*range(r - 2), r - 1, r - 2))

    rank = max(b.rank(a), b.rank(c))
    b.produce("MatMul", [operand(a, adj_a), operand(c, adj_c)], key, identity(rank))


def resize(b: LayoutBuilder, key: str, x: str, size: str, *, mode: str, align_corners: bool,
           half_pixel: bool, channels_last: bool = True) -> None:
    """TF ResizeBilinear / ResizeNearestNeighbor semantics as ONNX Resize on axes H, W."""
    if mode == "linear":
        ctm = "align_corners" if align_corners else "half_pixel" if half_pixel else "asymmetric"
        nearest = "round_prefer_floor"
    elif align_corners and half_pixel:
        raise ConversionError(f"nearest resize producing {key!r}: align_corners together with "
                              "half_pixel_centers has no ONNX equivalent")
    elif align_corners:
        ctm, nearest = "align_corners", "round_prefer_ceil"
    else:
        ctm = "tf_half_pixel_for_nn" if half_pixel else "asymmetric"
        nearest = "floor"
    perm = spatial_perm(4, channels_last)
    value = b.value(size)
    if value.const is not None:
        sizes = ints(b, value.const.reshape(-1).tolist(), f"{key}_sizes")
    else:
        sizes = b.temp("Cast", [b.get(size)], {"to": 7}, base=f"{key}_sizes")
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm, "nearest_mode": nearest,
             "axes": [2, 3]}
    b.produce("Resize", [b.get(x, perm), "", "", sizes], key, perm, attrs)


def depth_space(b: LayoutBuilder, op: str, key: str, x: str, block: int,
                channels_last: bool = True) -> None:
    """DepthToSpace / SpaceToDepth: TF's NHWC channel order is ONNX's DCR mode."""
    perm = spatial_perm(4, channels_last)
    b.produce(op, [b.get(x, perm)], key, perm, {"blocksize": int(block), "mode": "DCR"})
