"""Layout-aware emitters for elementwise, axis and shape ops of channels-last sources.

Each function takes a :class:`LayoutBuilder`, the source key of the output and the source
keys of the inputs, with axes and shapes in source terms; it emits ONNX-semantics nodes
(latest ONNX forms: axes, pads, bounds and sizes as int64 / float inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mace_converters.nhwc.builder import LayoutBuilder, Perm, drop_axes, identity
from mace_core.errors import ConversionError

INT_MAX = np.iinfo(np.int64).max
INT_MIN = np.iinfo(np.int64).min

# Fused activations of the source formats -> (op, bounds for Clip).
ACTIVATIONS: dict[str, tuple[str, tuple[float, ...]]] = {
    "RELU": ("Relu", ()),
    "RELU6": ("Clip", (0.0, 6.0)),
    "RELU_N1_TO_1": ("Clip", (-1.0, 1.0)),
    "TANH": ("Tanh", ()),
    "SIGMOID": ("Sigmoid", ()),
}

ONNX_TYPES = {"float32": 1, "uint8": 2, "int8": 3, "int32": 6, "int64": 7, "bool": 9,
              "float16": 10}


def ints(b: LayoutBuilder, values: Sequence[int], base: str) -> str:
    return b.const_input(np.asarray(list(values), dtype=np.int64), base)


def floats(b: LayoutBuilder, value: float, base: str) -> str:
    return b.const_input(np.asarray(value, dtype=np.float32), base)


def with_activation(b: LayoutBuilder, op: str, inputs: Sequence[str], key: str, perm: Perm,
                    attrs: dict | None = None, activation: str = "") -> None:
    """Emit ``op`` for ``key``, followed by a separate node for a fused activation."""
    if activation in ("", "NONE"):
        b.produce(op, inputs, key, perm, attrs)
        return
    if activation not in ACTIVATIONS:
        raise ConversionError(f"{op} producing {key!r}: fused activation {activation} is not "
                              f"supported (supported: {', '.join(ACTIVATIONS)})")
    raw = b.temp(op, inputs, attrs, base=f"{key}_{op.lower()}")
    act, bounds = ACTIVATIONS[activation]
    extra = [floats(b, v, f"{key}_bound") for v in bounds]
    b.produce(act, [raw, *extra], key, perm)


def unary(b: LayoutBuilder, op: str, key: str, x: str, attrs: dict | None = None) -> None:
    """An elementwise op of one input: keeps the input's layout."""
    value = b.value(x)
    b.produce(op, [value.name], key, value.perm, attrs)


def clip(b: LayoutBuilder, key: str, x: str, low: float, high: float) -> None:
    value = b.value(x)
    b.produce("Clip", [value.name, floats(b, low, f"{key}_min"), floats(b, high, f"{key}_max")],
              key, value.perm)


def common_perm(b: LayoutBuilder, keys: Sequence[str], rank: int) -> Perm:
    """The layout of the first run-time input of full rank (identity if none)."""
    for key in keys:
        value = b.value(key)
        if value.const is None and value.rank == rank:
            return value.perm
    return identity(rank)


def broadcast_input(b: LayoutBuilder, key: str, rank: int, perm: Perm) -> str:
    """``key`` ready to broadcast (numpy rules) against a rank-``rank`` tensor in ``perm``."""
    value = b.value(key)
    if perm == identity(rank):
        return b.get(key)
    if value.rank == rank:
        return b.get(key, perm)
    if value.const is not None:
        if value.const.size == 1:
            return value.name
        full = value.const.reshape((1,) * (rank - value.rank) + value.const.shape)
        arr = np.transpose(full, perm)
        while arr.ndim > 1 and arr.shape[0] == 1:
            arr = arr[0]
        return b.const_input(np.ascontiguousarray(arr), f"{key}_bcast")
    up = b.temp("Unsqueeze", [b.get(key), ints(b, range(rank - value.rank), f"{key}_axes")],
                base=f"{key}_rank{rank}")
    return b.temp("Transpose", [up], {"perm": list(perm)}, base=f"{key}_t")


def binary(b: LayoutBuilder, op: str, key: str, a: str, c: str, activation: str = "") -> None:
    """A broadcasting elementwise op of two inputs (Add, Mul, PRelu, Max...)."""
    rank = max(b.rank(a), b.rank(c))
    perm = common_perm(b, [a, c], rank)
    inputs = [broadcast_input(b, k, rank, perm) for k in (a, c)]
    with_activation(b, op, inputs, key, perm, None, activation)


def variadic(b: LayoutBuilder, op: str, key: str, xs: Sequence[str]) -> None:
    """A broadcasting op of many inputs (Max, Min, Sum)."""
    rank = max(b.rank(k) for k in xs)
    perm = common_perm(b, xs, rank)
    b.produce(op, [broadcast_input(b, k, rank, perm) for k in xs], key, perm)


def concat(b: LayoutBuilder, key: str, xs: Sequence[str], axis: int,
           activation: str = "") -> None:
    rank = b.rank(xs[0])
    axis %= rank
    perm = common_perm(b, xs, rank)
    inputs = [b.get(k, perm) for k in xs]
    with_activation(b, "Concat", inputs, key, perm, {"axis": perm.index(axis)}, activation)


def reduce(b: LayoutBuilder, op: str, key: str, x: str, axes: Sequence[int],
           keepdims: bool) -> None:
    """ReduceMean / ReduceSum / ReduceMax... over source ``axes``."""
    value = b.value(x)
    axes = sorted({int(a) % value.rank for a in np.asarray(axes).reshape(-1)})
    if not axes:
        b.alias(key, x)
        return
    mace_axes = sorted(value.perm.index(a) for a in axes)
    perm = value.perm if keepdims else drop_axes(value.perm, axes)
    b.produce(op, [value.name, ints(b, mace_axes, f"{key}_axes")], key, perm,
              {"keepdims": int(keepdims)})


def arg_reduce(b: LayoutBuilder, op: str, key: str, x: str, axis: int, dtype: str) -> None:
    """ArgMax / ArgMin along source ``axis`` (dropped), output cast to ``dtype``."""
    value = b.value(x)
    axis %= value.rank
    perm = drop_axes(value.perm, [axis])
    attrs = {"axis": value.perm.index(axis), "keepdims": 0}
    if dtype == "int64":
        b.produce(op, [value.name], key, perm, attrs)
        return
    raw = b.temp(op, [value.name], attrs, base=f"{key}_i64")
    b.produce("Cast", [raw], key, perm, {"to": ONNX_TYPES[dtype]})


def softmax(b: LayoutBuilder, key: str, x: str, axis: int = -1, beta: float = 1.0,
            op: str = "Softmax") -> None:
    value = b.value(x)
    axis %= value.rank
    src = value.name
    if beta != 1.0:
        src = b.temp("Mul", [src, floats(b, beta, f"{key}_beta")], base=f"{key}_scaled")
    b.produce(op, [src], key, value.perm, {"axis": value.perm.index(axis)})


def cast(b: LayoutBuilder, key: str, x: str, dtype: str) -> None:
    if dtype not in ONNX_TYPES:
        raise ConversionError(f"Cast to {dtype} producing {key!r} is not supported")
    unary(b, "Cast", key, x, {"to": ONNX_TYPES[dtype]})


def shape_as_int64(b: LayoutBuilder, key: str) -> str:
    """A run-time shape/index tensor as int64 (ONNX shape inputs are int64)."""
    value = b.value(key)
    if value.const is not None:
        return b.const_input(value.const.astype(np.int64), f"{key}_i64")
    return b.temp("Cast", [b.get(key)], {"to": ONNX_TYPES["int64"]}, base=f"{key}_i64")


def reshape(b: LayoutBuilder, key: str, x: str, shape: np.ndarray | str, out_rank: int) -> None:
    """Reshape in the source layout; ``shape`` is an array or the key of a shape tensor."""
    src = b.get(x)
    if isinstance(shape, str):
        target = shape_as_int64(b, shape)
        zero = b.is_const(shape) and 0 in b.const(shape, "shape")
    else:
        target = ints(b, np.asarray(shape).reshape(-1).tolist(), f"{key}_shape")
        zero = 0 in np.asarray(shape)
    b.produce("Reshape", [src, target], key, identity(out_rank), {"allowzero": int(zero)})


def transpose(b: LayoutBuilder, key: str, x: str, perm: Sequence[int]) -> None:
    """A source Transpose is a relabelling: no node is emitted."""
    perm = tuple(int(p) % b.rank(x) for p in perm)
    if sorted(perm) != list(range(b.rank(x))):
        raise ConversionError(f"Transpose producing {key!r}: {list(perm)} is not a permutation")
    b.alias(key, x, perm)


def squeeze(b: LayoutBuilder, key: str, x: str, axes: Sequence[int]) -> None:
    value = b.value(x)
    axes = sorted({int(a) % value.rank for a in axes})
    mace_axes = sorted(value.perm.index(a) for a in axes)
    b.produce("Squeeze", [value.name, ints(b, mace_axes, f"{key}_axes")], key,
              drop_axes(value.perm, axes))


def expand_dims(b: LayoutBuilder, key: str, x: str, axis: int) -> None:
    rank = b.rank(x) + 1
    axis %= rank
    b.produce("Unsqueeze", [b.get(x), ints(b, [axis], f"{key}_axes")], key, identity(rank))


def pad(b: LayoutBuilder, key: str, x: str, paddings: np.ndarray, mode: str = "constant",
        value_key: str | None = None) -> None:
    """Pad with source ``paddings`` of shape (rank, 2); mode constant / reflect / edge."""
    value = b.value(x)
    p = np.asarray(paddings, dtype=np.int64).reshape(value.rank, 2)[list(value.perm)]
    inputs = [value.name, ints(b, [*p[:, 0], *p[:, 1]], f"{key}_pads")]
    if value_key is not None and mode == "constant":
        inputs.append(b.get(value_key))
    b.produce("Pad", inputs, key, value.perm, {"mode": mode})


def slice_axes(b: LayoutBuilder, key: str, x: str, spec: Sequence[tuple[int, int, int, int]],
               base: str) -> str:
    """Slice (axis, start, end, step) in source axes; returns the mace name (layout kept)."""
    value = b.value(x)
    spec = [s for s in spec if (s[1], s[2], s[3]) != (0, INT_MAX, 1)]
    if not spec:
        return value.name
    axes = [value.perm.index(s[0]) for s in spec]
    inputs = [value.name, ints(b, [s[1] for s in spec], f"{base}_starts"),
              ints(b, [s[2] for s in spec], f"{base}_ends"), ints(b, axes, f"{base}_axes"),
              ints(b, [s[3] for s in spec], f"{base}_steps")]
    return b.temp("Slice", inputs, base=base)


def slice_(b: LayoutBuilder, key: str, x: str, begin: Sequence[int], size: Sequence[int]
           ) -> None:
    """TF/TFLite Slice: ``begin`` and ``size`` (-1: to the end) per source axis."""
    spec = [(i, int(s), INT_MAX if int(n) == -1 else int(s) + int(n), 1)
            for i, (s, n) in enumerate(zip(begin, size, strict=True))]
    name = slice_axes(b, key, x, spec, key)
    if name == b.value(x).name:
        b.alias(key, x)
    else:
        b.bind(key, name, b.perm(x))


def split(b: LayoutBuilder, keys: Sequence[str], x: str, axis: int, sizes: Sequence[int]
          ) -> None:
    value = b.value(x)
    axis %= value.rank
    b.produce_many("Split", [value.name, ints(b, sizes, f"{keys[0]}_split")], keys,
                   [value.perm] * len(keys), {"axis": value.perm.index(axis)})


def pack(b: LayoutBuilder, key: str, xs: Sequence[str], axis: int) -> None:
    """Stack: Unsqueeze every input at ``axis`` and concatenate."""
    rank = b.rank(xs[0]) + 1
    axis %= rank
    axes = ints(b, [axis], f"{key}_axes")
    parts = [b.temp("Unsqueeze", [b.get(k), axes], base=f"{key}_part") for k in xs]
    b.produce("Concat", parts, key, identity(rank), {"axis": axis})


def unpack(b: LayoutBuilder, keys: Sequence[str], x: str, axis: int) -> None:
    value = b.value(x)
    axis %= value.rank
    mace_axis = value.perm.index(axis)
    parts = [b.fresh(f"{k}_part") for k in keys]
    b.emit("Split", [value.name, ints(b, [1] * len(keys), f"{keys[0]}_split")], parts,
           {"axis": mace_axis})
    axes = ints(b, [mace_axis], f"{keys[0]}_axes")
    for key, part in zip(keys, parts, strict=True):
        b.produce("Squeeze", [part, axes], key, drop_axes(value.perm, [axis]))


def gather(b: LayoutBuilder, key: str, x: str, indices: str, axis: int, out_rank: int) -> None:
    b.produce("Gather", [b.get(x), shape_as_int64(b, indices)], key, identity(out_rank),
              {"axis": axis % b.rank(x)})


def tile(b: LayoutBuilder, key: str, x: str, multiples: Sequence[int]) -> None:
    value = b.value(x)
    m = np.asarray(multiples, dtype=np.int64)[list(value.perm)]
    b.produce("Tile", [value.name, ints(b, m.tolist(), f"{key}_reps")], key, value.perm)


def shape(b: LayoutBuilder, key: str, x: str, dtype: str = "int32") -> None:
    src = b.get(x)
    if dtype == "int64":
        b.produce("Shape", [src], key, (0,))
        return
    raw = b.temp("Shape", [src], base=f"{key}_i64")
    b.produce("Cast", [raw], key, (0,), {"to": ONNX_TYPES[dtype]})
