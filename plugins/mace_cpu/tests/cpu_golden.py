"""Golden inputs and outputs for the C harness (tests/neon/harness.c), from the numpy
reference kernels of mace-core.

    python cpu_golden.py OUT_FILE

Each case holds the C parameters (built by the same functions the cpu kernels use), the
inputs, and the reference output; the format is described in harness.c.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
from mace_core.runtime.model import Model

from mace_cpu.kernels.common import activation
from mace_cpu.kernels.conv import conv_geometry, transpose_params
from mace_cpu.kernels.eltwise import BINOPS, MATH, broadcast_plan
from mace_cpu.kernels.gemm import _batch_offsets, bias_kind, bias_vector
from mace_cpu.kernels.layout import _resize_plan, strides
from mace_cpu.kernels.pool import POOL_AVG, POOL_MAX, pool_geometry

from cpu_helpers import node_graph, randn

(CONV, GEMM, POOL, GAP, BINARY, UNARY, SOFTMAX, COPY, RESIZE, LAYERNORM, AFFINE, REDUCE, CONVT,
 MATMUL, CONV16, GEMM16, WINOGRAD) = range(1, 18)
Q8GEMM = 18  # int8 GEMM (MatMulInteger with a constant B); values travel as exact floats
BLOCK = 19  # 1x1 expand (optional), 3x3 depthwise, 1x1 project run as one op (block.c)
CONV_FIELDS = ("n", "c", "h", "w", "m", "kh", "kw", "oh", "ow", "sh", "sw", "dh", "dw", "pt",
               "pl", "group")
POOL_FIELDS = ("n", "c", "h", "w", "oh", "ow", "kh", "kw", "sh", "sw", "dh", "dw", "pt", "pl",
               "pb", "pr", "kind", "count_include_pad")
CONV16A, GEMM16A = 32, 33  # fp16 arithmetic: CONV16 / GEMM16 plans switched to it
RELU6 = {"activation": "Clip", "activation_params": [0.0, 6.0]}


def reference(op: str, inputs: dict, constants=(), attrs=None) -> np.ndarray:
    """The output of one ``op`` node on the reference device."""
    graph = node_graph(op, inputs, constants=constants, attrs=attrs)
    feeds = {name: inputs[name] for name in graph.inputs}
    return Model(graph).session(["reference"]).run(feeds)[graph.outputs[0]]


def fp16_values(w: np.ndarray) -> np.ndarray:
    """``w`` rounded to fp16, kept float32 (the weights of the fp16 cases)."""
    return w.astype(np.float16).astype(np.float32)


def conv_case(rng, x_shape, w_shape, attrs, bias=True, half=False):
    fan_in = int(np.prod(w_shape[1:]))
    x, w = randn(rng, *x_shape), randn(rng, *w_shape, scale=1 / np.sqrt(fan_in))
    w = fp16_values(w) if half else w
    b = randn(rng, w_shape[0]) if bias else None
    y = reference("Conv", {"x": x, "w": w, "b": b}, ("w", "b"), attrs)
    geo = conv_geometry(x_shape, w_shape, attrs)
    kind, a0, a1 = activation(attrs)
    empty = np.zeros(0, np.float32)
    return CONV16 if half else CONV, [geo[f] for f in CONV_FIELDS] + [kind], [a0, a1], \
        [x, w, b if b is not None else empty, y]


def winograd_case(rng, x_shape, w_shape, attrs, tile, bias=True):
    """A 3x3 stride-1 conv the harness runs with Winograd F(tile,3) forced."""
    _, ints, floats, arrays = conv_case(rng, x_shape, w_shape, attrs, bias)
    return WINOGRAD, ints + [tile], floats, arrays


def gemm_case(rng, m, n, k, ta, tb, c_shape, alpha, beta, b_const, attrs=None, half=False):
    a = randn(rng, *((k, m) if ta else (m, k)))
    b = randn(rng, *((n, k) if tb else (k, n)), scale=1 / np.sqrt(k))
    b = fp16_values(b) if half else b
    c = randn(rng, *c_shape) if c_shape else None
    attrs = {"transA": ta, "transB": tb, "alpha": alpha, "beta": beta, **(attrs or {})}
    y = reference("Gemm", {"a": a, "b": b, "c": c}, ("b", "c") if b_const else (), attrs)
    kind = bias_kind(c_shape, m, n) if c_shape else 0
    bias = bias_vector(c, kind, n) if c is not None else np.zeros(0, np.float32)
    act, a0, a1 = activation(attrs)
    return GEMM16 if half else GEMM, [m, n, k, ta, tb, kind, act, int(b_const)], \
        [alpha, beta, a0, a1], [a, b, bias, y]


def pool_case(rng, op, x_shape, attrs):
    x = randn(rng, *x_shape)
    y = reference(op, {"x": x}, attrs=attrs)
    full = {"auto_pad": "NOTSET", "ceil_mode": 0, "count_include_pad": 0, **attrs}
    geo = pool_geometry(x_shape, full, POOL_MAX if op == "MaxPool" else POOL_AVG)
    return POOL, [geo[f] for f in POOL_FIELDS], [], [x, y]


def binary_case(rng, op, a_shape, b_shape, attrs=None):
    a, b = randn(rng, *a_shape), randn(rng, *b_shape)
    y = reference(op, {"a": a, "b": b}, attrs=attrs)
    plan = broadcast_plan(a_shape, b_shape, y.shape)
    assert plan is not None
    swap, outer, mid, inner = plan
    act, a0, a1 = activation(attrs or {})
    full, small = (b, a) if swap else (a, b)
    return BINARY, [BINOPS[op], outer, mid, inner, int(swap), act], [a0, a1], [full, small, y]


def cases(seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    out = [
        conv_case(rng, (1, 16, 9, 10), (24, 16, 1, 1), {}),
        conv_case(rng, (1, 300, 3, 4), (10, 300, 1, 1), {"activation": "Relu"}),
        conv_case(rng, (1, 8, 11, 12), (12, 8, 3, 3), {"pads": [1, 1, 1, 1], **RELU6}),
        conv_case(rng, (1, 3, 17, 15), (16, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
        conv_case(rng, (1, 64, 6, 6), (20, 64, 3, 3), {"pads": [1, 1, 1, 1]}, bias=False),
        conv_case(rng, (1, 4, 13, 11), (6, 4, 3, 3), {"dilations": [2, 2], "pads": [1, 2, 2, 1],
                                                     "activation": "HardSwish"}),
        conv_case(rng, (2, 8, 9, 9), (8, 2, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),
        conv_case(rng, (1, 8, 14, 13), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1], **RELU6}),
        conv_case(rng, (1, 8, 14, 13), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1],
                                                     "strides": [2, 2]}),
        conv_case(rng, (1, 3, 9, 75), (3, 1, 3, 3), {"group": 3, "pads": [0, 0, 1, 1],
                                                    "strides": [2, 2], **RELU6}),
        conv_case(rng, (2, 2, 6, 40), (2, 1, 3, 3), {"group": 2, "pads": [1, 1, 1, 1],
                                                    "strides": [2, 2]}),
        conv_case(rng, (1, 6, 12, 12), (12, 1, 5, 5), {"group": 6, "pads": [2, 2, 2, 2],
                                                      "activation": "Sigmoid"}),
        gemm_case(rng, 1, 10, 64, 0, 1, (10,), 1.0, 1.0, True),
        gemm_case(rng, 13, 45, 300, 0, 0, (13, 45), 1.0, 1.0, True, {"activation": "Tanh"}),
        gemm_case(rng, 9, 20, 17, 1, 1, (9, 1), 0.5, 2.0, False),
        pool_case(rng, "MaxPool", (1, 5, 15, 17), {"kernel_shape": [3, 3], "strides": [2, 2],
                                                   "pads": [1, 1, 1, 1]}),
        pool_case(rng, "AveragePool", (1, 4, 10, 11), {"kernel_shape": [3, 3],
                                                       "strides": [2, 2], "ceil_mode": 1}),
        pool_case(rng, "AveragePool", (1, 3, 9, 8), {"kernel_shape": [3, 2], "pads": [1, 1, 0, 1],
                                                     "count_include_pad": 1}),
        binary_case(rng, "Add", (2, 8, 5, 7), (2, 8, 5, 7), {"activation": "Relu"}),
        binary_case(rng, "Mul", (2, 8, 5, 7), (8, 1, 1)),
        binary_case(rng, "Sub", (8, 1, 1), (2, 8, 5, 7)),
    ]
    x = randn(rng, 2, 6, 7, 7)
    out.append((GAP, [12, 49], [], [x, reference("GlobalAveragePool", {"x": x})]))
    x = randn(rng, 3, 50, scale=4.0)
    out.append((UNARY, [7], [0.0, 0.0], [x, reference("HardSwish", {"x": x})]))
    out.append((UNARY, [2], [-1.0, 2.0], [x, reference("Clip", {"x": x}, attrs={
        "min": -1.0, "max": 2.0})]))
    x = randn(rng, 4, 37, scale=5.0)
    out.append((SOFTMAX, [4, 37, 1], [], [x, reference("Softmax", {"x": x})]))
    return (out + more_cases(rng) + fp16_cases(rng) + winograd_cases(rng)
            + q8_cases(np.random.default_rng(seed + 18)) + fp16_arith_cases(rng)
            + block_cases(np.random.default_rng(seed + 19)))


def fp16_cases(rng) -> list[tuple]:
    """Conv (1x1, shifted, im2col, groups) and Gemm (few rows, edges, K blocks) with fp16
    weights, against the reference run on the same (fp16-valued) weights."""
    return [
        conv_case(rng, (1, 16, 9, 10), (24, 16, 1, 1), {"activation": "Relu"}, half=True),
        conv_case(rng, (1, 8, 11, 12), (12, 8, 3, 3), {"pads": [1, 1, 1, 1], **RELU6},
                  half=True),
        conv_case(rng, (1, 3, 17, 15), (16, 3, 3, 3), {"pads": [1, 1, 1, 1],
                                                      "strides": [2, 2]}, half=True),
        conv_case(rng, (2, 8, 9, 9), (8, 2, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]},
                  half=True),
        gemm_case(rng, 1, 10, 64, 0, 1, (10,), 1.0, 1.0, True, half=True),
        gemm_case(rng, 13, 45, 300, 0, 0, (13, 45), 1.0, 1.0, True, {"activation": "Tanh"},
                  half=True),
        gemm_case(rng, 20, 70, 600, 0, 1, (70,), 1.0, 1.0, True, half=True),
    ]


def fp16_arith_cases(rng) -> list[tuple]:
    """fp16 weights and fp16 arithmetic where the CPU has it: 1x1 (short and long K; M and
    N over one cache block), shifted, im2col, groups and batch; Gemm with a constant B (K
    blocks, transposed operands, edges, every epilogue path), against the fp32 reference
    on the same weights."""
    pad1 = {"pads": [1, 1, 1, 1]}
    convs = [
        conv_case(rng, (1, 16, 9, 10), (24, 16, 1, 1), {"activation": "Relu"}, half=True),
        conv_case(rng, (1, 300, 5, 7), (20, 300, 1, 1), {}, half=True),
        conv_case(rng, (1, 8, 11, 12), (12, 8, 3, 3), {**pad1, **RELU6}, half=True),
        conv_case(rng, (1, 64, 6, 6), (20, 64, 3, 3), pad1, bias=False, half=True),
        conv_case(rng, (1, 3, 17, 15), (16, 3, 3, 3), {**pad1, "strides": [2, 2],
                                                      "activation": "HardSwish"}, half=True),
        conv_case(rng, (2, 8, 9, 9), (8, 2, 3, 3), {"group": 4, **pad1}, half=True),
        conv_case(rng, (1, 32, 30, 41), (150, 32, 1, 1), {"activation": "Relu"}, half=True),
    ]
    gemms = [
        gemm_case(rng, 1, 10, 64, 0, 1, (10,), 1.0, 1.0, True, half=True),
        gemm_case(rng, 13, 45, 300, 0, 0, (13, 45), 1.0, 1.0, True, {"activation": "Tanh"},
                  half=True),
        gemm_case(rng, 20, 70, 600, 0, 1, (70,), 1.0, 1.0, True, RELU6, half=True),
        gemm_case(rng, 9, 20, 17, 1, 1, (9, 1), 0.5, 2.0, True, half=True),
        gemm_case(rng, 33, 40, 1000, 0, 0, None, 1.0, 1.0, True, half=True),
    ]
    return [(CONV16A, *c[1:]) for c in convs] + [(GEMM16A, *g[1:]) for g in gemms]


def more_cases(rng) -> list[tuple]:
    """Depthwise on the flat / grid paths, data movement, normalisations, reductions,
    ConvTranspose, batched MatMul, Div and unary math."""
    out = [
        conv_case(rng, (1, 8, 7, 7), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1], **RELU6}),
        conv_case(rng, (1, 6, 14, 13), (6, 1, 5, 5), {"group": 6, "pads": [2, 2, 2, 2],
                                                     "strides": [2, 2]}),
        conv_case(rng, (1, 5, 15, 16), (5, 1, 3, 3), {"group": 5, "pads": [2, 1, 2, 3],
                                                     "strides": [2, 2], "dilations": [2, 2]}),
        binary_case(rng, "Div", (2, 8, 5, 7), (8, 1, 1)),
    ]
    x = randn(rng, 3, 40, scale=2.0)
    for op in ("Neg", "Exp", "Reciprocal"):
        out.append((UNARY, [MATH[op]], [0.0, 0.0], [x, reference(op, {"x": x})]))
    x = randn(rng, 2, 4, 16, 21)
    out.append((SOFTMAX, [2, 4, 16 * 21], [], [x, reference("Softmax", {"x": x},
                                                            attrs={"axis": 1})]))
    perm = [2, 0, 3, 1]
    y = reference("Transpose", {"x": x}, attrs={"perm": perm})
    src = strides(x.shape)
    out.append((COPY, [4, *y.shape, *[src[p] for p in perm], *strides(y.shape)], [], [x, y]))
    x = randn(rng, 1, 3, 5, 6)
    for attrs, scales in (({"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                            "nearest_mode": "floor"}, [1, 1, 2, 2]),
                          ({"mode": "linear"}, [1, 1, 1.5, 2.5])):
        inputs = {"x": x, "roi": np.zeros(0, np.float32), "scales": np.array(scales, np.float32)}
        graph = node_graph("Resize", inputs, constants=("roi", "scales"), attrs=attrs)
        schema_attrs = {**{"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                           "nearest_mode": "round_prefer_floor", "cubic_coeff_a": -0.75,
                           "exclude_outside": 0, "axes": None,
                           "keep_aspect_ratio_policy": "stretch"}, **attrs}
        shape, (iy, wy), (ix, wx) = _resize_plan(graph.nodes[0], graph, schema_attrs)
        y = reference("Resize", inputs, ("roi", "scales"), attrs)
        out.append((RESIZE, [3, 5, 6, shape[2], shape[3], iy.shape[1], ix.shape[1]], [],
                    [x, iy.astype(np.float32), wy.astype(np.float32), ix.astype(np.float32),
                     wx.astype(np.float32), y]))
    x, scale, bias = randn(rng, 5, 24) + 1.0, randn(rng, 24), randn(rng, 24)
    y = reference("LayerNormalization", {"x": x, "s": scale, "b": bias}, ("s", "b"))
    out.append((LAYERNORM, [5, 24], [1e-5], [x, scale, bias, y]))
    x, mul, add = randn(rng, 2, 6, 9), randn(rng, 6), randn(rng, 6)
    y = np.maximum(x * mul[:, None] + add[:, None], 0).astype(np.float32)
    out.append((AFFINE, [2, 6, 9, 1], [0.0, 0.0], [x, mul, add, y]))
    x = randn(rng, 3, 7, 5)
    for kind, op in enumerate(("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin")):
        y = reference(op, {"x": x, "axes": np.array([1], np.int64)}, ("axes",))
        out.append((REDUCE, [kind, 3, 7, 5], [], [x, y]))
    x, w, b = randn(rng, 1, 6, 5, 4), randn(rng, 6, 3, 3, 3), randn(rng, 3)
    attrs = {"strides": [2, 2], "pads": [1, 0, 1, 1], "activation": "Relu",
             "kernel_shape": [3, 3]}
    y = reference("ConvTranspose", {"x": x, "w": w, "b": b}, ("w", "b"), attrs)
    geo = transpose_params(x.shape, w.shape, attrs)
    kind, a0, a1 = activation(attrs)
    out.append((CONVT, [geo[f] for f in CONV_FIELDS] + [kind], [a0, a1], [x, w, b, y]))
    a, b = randn(rng, 3, 1, 5, 7), randn(rng, 4, 7, 6)
    y = reference("MatMul", {"a": a, "b": b})
    batch = y.shape[:-2]
    out.append((MATMUL, [int(np.prod(batch)), 5, 6, 7, 0], [0.0, 0.0],
                [a, b, np.array(_batch_offsets(a.shape, batch), np.float32),
                 np.array(_batch_offsets(b.shape, batch), np.float32), y]))
    return out


def winograd_cases(rng) -> list[tuple]:
    """Winograd F(4,3) and F(2,3): odd sizes, asymmetric pads, batch 2, groups, the fused
    and the separate activation paths."""
    pad1 = {"pads": [1, 1, 1, 1]}
    return [
        winograd_case(rng, (1, 8, 11, 12), (12, 8, 3, 3), {**pad1, **RELU6}, 4),
        winograd_case(rng, (1, 8, 11, 12), (12, 8, 3, 3), {**pad1, **RELU6}, 2),
        winograd_case(rng, (2, 5, 9, 7), (7, 5, 3, 3), {"pads": [2, 0, 0, 1]}, 4, bias=False),
        winograd_case(rng, (1, 16, 6, 19), (9, 16, 3, 3), {"pads": [0, 1, 1, 0],
                                                           "activation": "HardSwish"}, 2),
        winograd_case(rng, (1, 8, 10, 10), (6, 4, 3, 3), {**pad1, "group": 2}, 4),
        winograd_case(rng, (1, 40, 7, 7), (20, 40, 3, 3), {**pad1, "activation": "Relu"}, 2),
        winograd_case(rng, (1, 3, 16, 33), (16, 3, 3, 3), pad1, 4),
    ]


def block_case(rng, c, e, out, h, w, stride, expand=True):
    """x -> [1x1 expand, ReLU6] -> 3x3 depthwise (stride, pad 1, ReLU6) -> 1x1 project. The
    harness runs the fused block where mc_block_create takes it (x86 AVX2 / AVX-512), else
    the three plans one after the other."""
    x = randn(rng, 1, c if expand else e, h, w)
    convs = []
    if expand:
        convs.append(((e, c, 1, 1), dict(RELU6)))
    convs.append(((e, 1, 3, 3), {"group": e, "pads": [1, 1, 1, 1], "strides": [stride, stride],
                                 **RELU6}))
    convs.append(((out, e, 1, 1), {}))
    ints, floats, arrays, y = [], [], [x], x
    for w_shape, attrs in convs:
        wt = randn(rng, *w_shape, scale=1 / np.sqrt(int(np.prod(w_shape[1:]))))
        b = randn(rng, w_shape[0], scale=0.1)
        geo = conv_geometry(y.shape, w_shape, attrs)
        kind, a0, a1 = activation(attrs)
        ints += [geo[f] for f in CONV_FIELDS] + [kind]
        floats += [a0, a1]
        arrays += [wt, b]
        y = reference("Conv", {"x": y, "w": wt, "b": b}, ("w", "b"), attrs)
    if not expand:  # no expand: its slots empty
        ints = [0] * 17 + ints
        floats = [0.0, 0.0] + floats
        arrays = arrays[:1] + [np.zeros(0, np.float32)] * 2 + arrays[1:]
    return BLOCK, ints, floats, arrays + [y]


def block_cases(rng) -> list[tuple]:
    return [
        block_case(rng, 8, 48, 12, 30, 29, 1),
        block_case(rng, 8, 48, 16, 33, 31, 2),
        block_case(rng, 8, 32, 16, 40, 36, 1, expand=False),
    ]


def q8_cases(rng) -> list[tuple]:
    """MatMulInteger (int32 output, exact): int8/uint8 combinations, no / per-tensor /
    per-row and per-column zero points, M, N, K off every path's tile. Outputs stay below
    2**24, so float32 carries them exactly."""
    out = []
    for m, n, k, ta, tb, zps in ((1, 1, 1, np.uint8, np.uint8, "none"),
                                 (7, 13, 5, np.int8, np.int8, "tensor"),
                                 (13, 45, 67, np.uint8, np.int8, "row_col"),
                                 (20, 70, 130, np.int8, np.uint8, "tensor"),
                                 (9, 33, 200, np.uint8, np.uint8, "row_col")):
        def q(dtype, *shape):
            return rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max + 1,
                                shape).astype(dtype)
        a, b = q(ta, m, k), q(tb, k, n)
        za, zb = {"none": (None, None), "tensor": (q(ta, 1), q(tb, 1)),
                  "row_col": (q(ta, m), q(tb, n))}[zps]
        y = reference("MatMulInteger", {"a": a, "b": b, "za": za, "zb": zb}, ("b", "zb"))
        empty = np.zeros(0, np.float32)
        ints = [m, n, k, int(ta == np.int8), int(tb == np.int8)]
        out.append((Q8GEMM, ints, [], [a, b, za if za is not None else empty,
                                       zb if zb is not None else empty, y]))
    return out


def write_golden(path: Path, seed: int = 0) -> int:
    """Write the golden file; returns the number of cases."""
    all_cases = cases(seed)
    with open(path, "wb") as f:
        f.write(b"MCG1" + struct.pack("<I", len(all_cases)))
        for kind, ints, floats, arrays in all_cases:
            f.write(struct.pack("<II", kind, len(ints)) + struct.pack(f"<{len(ints)}i", *ints))
            f.write(struct.pack("<I", len(floats)) + struct.pack(f"<{len(floats)}f", *floats))
            f.write(struct.pack("<I", len(arrays)))
            for arr in arrays:
                flat = np.ascontiguousarray(arr, dtype="<f4").reshape(-1)
                f.write(struct.pack("<I", flat.size) + flat.tobytes())
    return len(all_cases)


if __name__ == "__main__":
    print(write_golden(Path(sys.argv[1])))
