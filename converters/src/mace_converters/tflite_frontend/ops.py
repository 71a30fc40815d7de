"""TFLite builtin operators -> mace-core (ONNX-semantics) nodes, one function per op family.

``CONVERTERS`` maps each supported builtin name to its converter. TFLite tensors are
channels-last; the emitters of :mod:`mace_converters.nhwc` handle layouts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mace_converters.nhwc import nn_ops, tensor_ops
from mace_converters.nhwc.strided_slice import SliceMasks, strided_slice
from mace_converters.tflite_frontend.context import OpContext
from mace_converters.tflite_frontend.loading import dequantize


def conv_2d(c: OpContext) -> None:
    x, w = c.input(0), c.input(1)
    in_channels = c.shapes[x][3]
    w_in = c.shapes[w][3]
    if w_in <= 0 or in_channels % w_in:
        raise c.fail(f"{in_channels} input channels do not split into groups of {w_in}")
    nn_ops.conv2d(c.b, c.out, x, nn_ops.weight(c.b, w, (0, 3, 1, 2)), _bias(c, 2),
                  strides=(c.opt("strideH"), c.opt("strideW")),
                  dilations=(c.opt("dilationHFactor", 1), c.opt("dilationWFactor", 1)),
                  padding=c.padding(), group=in_channels // w_in, activation=c.activation())


def depthwise_conv_2d(c: OpContext) -> None:
    x, w = c.input(0), c.input(1)
    in_channels = c.shapes[x][3]
    # weights [1, H, W, C * M] -> [C * M, 1, H, W]: one group per input channel
    nn_ops.conv2d(c.b, c.out, x, nn_ops.weight(c.b, w, (3, 0, 1, 2)), _bias(c, 2),
                  strides=(c.opt("strideH"), c.opt("strideW")),
                  dilations=(c.opt("dilationHFactor", 1), c.opt("dilationWFactor", 1)),
                  padding=c.padding(), group=in_channels, activation=c.activation())


def transpose_conv(c: OpContext) -> None:
    out_shape, w, x = c.const(0, "output shape"), c.input(1), c.input(2)
    w_shape = c.shapes[w]
    nn_ops.conv_transpose(c.b, c.out, x, nn_ops.weight(c.b, w, (3, 0, 1, 2)), _bias(c, 3),
                          in_hw=c.shapes[x][1:3], out_hw=[int(v) for v in out_shape[1:3]],
                          kernel=w_shape[1:3], strides=(c.opt("strideH"), c.opt("strideW")),
                          padding=c.padding(), activation=c.activation())


def fully_connected(c: OpContext) -> None:
    nn_ops.dense(c.b, c.out, c.input(0), c.input(1), c.optional(2), units_last=True,
                 keep_dims=bool(c.opt("keepNumDims", False)), activation=c.activation())


def pool(op: str) -> Callable[[OpContext], None]:
    def convert(c: OpContext) -> None:
        nn_ops.pool(c.b, op, c.out, c.input(0),
                    kernel=(c.opt("filterHeight"), c.opt("filterWidth")),
                    strides=(c.opt("strideH"), c.opt("strideW")), padding=c.padding(),
                    activation=c.activation())

    return convert


def binary(op: str) -> Callable[[OpContext], None]:
    def convert(c: OpContext) -> None:
        tensor_ops.binary(c.b, op, c.out, c.input(0), c.input(1), c.activation())

    return convert


def unary(op: str, **attrs) -> Callable[[OpContext], None]:
    def convert(c: OpContext) -> None:
        tensor_ops.unary(c.b, op, c.out, c.input(0), attrs or None)

    return convert


def clip(low: float, high: float) -> Callable[[OpContext], None]:
    def convert(c: OpContext) -> None:
        tensor_ops.clip(c.b, c.out, c.input(0), low, high)

    return convert


def leaky_relu(c: OpContext) -> None:
    tensor_ops.unary(c.b, "LeakyRelu", c.out, c.input(0), {"alpha": float(c.opt("alpha"))})


def gelu(c: OpContext) -> None:
    approximate = "tanh" if c.opt("approximate", False) else "none"
    tensor_ops.unary(c.b, "Gelu", c.out, c.input(0), {"approximate": approximate})


def rsqrt(c: OpContext) -> None:
    root = c.b.fresh(f"{c.out}_sqrt")
    value = c.b.value(c.input(0))
    c.b.emit("Sqrt", [value.name], [root])
    c.b.produce("Reciprocal", [root], c.out, value.perm)


def square(c: OpContext) -> None:
    tensor_ops.binary(c.b, "Mul", c.out, c.input(0), c.input(0))


def squared_difference(c: OpContext) -> None:
    diff = f"{c.out}__diff"
    tensor_ops.binary(c.b, "Sub", diff, c.input(0), c.input(1))
    tensor_ops.binary(c.b, "Mul", c.out, diff, diff)


def reduce(op: str) -> Callable[[OpContext], None]:
    def convert(c: OpContext) -> None:
        tensor_ops.reduce(c.b, op, c.out, c.input(0), c.const(1, "axes").reshape(-1).tolist(),
                          bool(c.opt("keepDims", False)))

    return convert


def arg_reduce(op: str) -> Callable[[OpContext], None]:
    def convert(c: OpContext) -> None:
        axis = int(c.const(1, "axis").reshape(-1)[0])
        tensor_ops.arg_reduce(c.b, op, c.out, c.input(0), axis, str(c.dtypes[c.out]))

    return convert


def reshape(c: OpContext) -> None:
    shape_key = c.optional(1)
    rank = len(c.shapes[c.out])
    if shape_key is not None and (c.b.rank(shape_key) == 1 or not c.b.is_const(shape_key)):
        tensor_ops.reshape(c.b, c.out, c.input(0), shape_key, rank)
        return
    new_shape = c.opt("newShape")
    target = np.asarray(new_shape if new_shape is not None else c.shapes[c.out])
    tensor_ops.reshape(c.b, c.out, c.input(0), target.astype(np.int64), rank)


def softmax(c: OpContext) -> None:
    tensor_ops.softmax(c.b, c.out, c.input(0), -1, float(c.opt("beta", 1.0)))


def log_softmax(c: OpContext) -> None:
    tensor_ops.softmax(c.b, c.out, c.input(0), -1, 1.0, op="LogSoftmax")


def concatenation(c: OpContext) -> None:
    keys = [k for k in c.inputs if k is not None]
    tensor_ops.concat(c.b, c.out, keys, int(c.opt("axis", 0)), c.activation())


def pad(c: OpContext) -> None:
    value = c.optional(2) if c.name == "PADV2" else None
    tensor_ops.pad(c.b, c.out, c.input(0), c.const(1, "paddings"), "constant", value)


def mirror_pad(c: OpContext) -> None:
    if c.opt("mode", 0) != 0:
        raise c.fail("SYMMETRIC mirror padding has no ONNX equivalent (REFLECT is supported)")
    tensor_ops.pad(c.b, c.out, c.input(0), c.const(1, "paddings"), "reflect")


def resize(mode: str) -> Callable[[OpContext], None]:
    def convert(c: OpContext) -> None:
        nn_ops.resize(c.b, c.out, c.input(0), c.input(1), mode=mode,
                      align_corners=bool(c.opt("alignCorners", False)),
                      half_pixel=bool(c.opt("halfPixelCenters", False)))

    return convert


def transpose(c: OpContext) -> None:
    tensor_ops.transpose(c.b, c.out, c.input(0), c.const(1, "permutation").tolist())


def strided_slice_op(c: OpContext) -> None:
    masks = SliceMasks(c.opt("beginMask", 0), c.opt("endMask", 0), c.opt("ellipsisMask", 0),
                       c.opt("newAxisMask", 0), c.opt("shrinkAxisMask", 0),
                       bool(c.opt("offset", False)))
    strided_slice(c.b, c.out, c.input(0), c.const(1, "begin").tolist(),
                  c.const(2, "end").tolist(), c.const(3, "strides").tolist(), masks)


def slice_op(c: OpContext) -> None:
    tensor_ops.slice_(c.b, c.out, c.input(0), c.const(1, "begin").tolist(),
                      c.const(2, "size").tolist())


def squeeze(c: OpContext) -> None:
    dims = c.opt("squeezeDims")
    if dims is None or len(dims) == 0:
        dims = [i for i, d in enumerate(c.shapes[c.input(0)]) if d == 1]
    tensor_ops.squeeze(c.b, c.out, c.input(0), [int(d) for d in dims])


def expand_dims(c: OpContext) -> None:
    tensor_ops.expand_dims(c.b, c.out, c.input(0), int(c.const(1, "axis").reshape(-1)[0]))


def split(c: OpContext) -> None:
    axis = int(c.const(0, "axis").reshape(-1)[0])
    x = c.input(1)
    dim = c.shapes[x][axis]
    tensor_ops.split(c.b, c.outputs, x, axis, [dim // len(c.outputs)] * len(c.outputs))


def split_v(c: OpContext) -> None:
    sizes = c.const(1, "size_splits").astype(np.int64)
    axis = int(c.const(2, "axis").reshape(-1)[0])
    if (sizes < 0).any():
        sizes[sizes < 0] = c.shapes[c.input(0)][axis] - sizes[sizes >= 0].sum()
    tensor_ops.split(c.b, c.outputs, c.input(0), axis, sizes.tolist())


def pack(c: OpContext) -> None:
    tensor_ops.pack(c.b, c.out, [k for k in c.inputs if k], int(c.opt("axis", 0)))


def unpack(c: OpContext) -> None:
    tensor_ops.unpack(c.b, c.outputs, c.input(0), int(c.opt("axis", 0)))


def gather(c: OpContext) -> None:
    if c.opt("batchDims", 0):
        raise c.fail("GATHER with batch_dims is not supported")
    tensor_ops.gather(c.b, c.out, c.input(0), c.input(1), int(c.opt("axis", 0)),
                      len(c.shapes[c.out]))


def tile(c: OpContext) -> None:
    tensor_ops.tile(c.b, c.out, c.input(0), c.const(1, "multiples").tolist())


def cast(c: OpContext) -> None:
    tensor_ops.cast(c.b, c.out, c.input(0), str(c.dtypes[c.out]))


def shape(c: OpContext) -> None:
    tensor_ops.shape(c.b, c.out, c.input(0), str(c.dtypes[c.out]))


def depth_space(op: str) -> Callable[[OpContext], None]:
    def convert(c: OpContext) -> None:
        nn_ops.depth_space(c.b, op, c.out, c.input(0), int(c.opt("blockSize")))

    return convert


def batch_matmul(c: OpContext) -> None:
    nn_ops.matmul(c.b, c.out, c.input(0), c.input(1), bool(c.opt("adjX", False)),
                  bool(c.opt("adjY", False)))


def variadic(op: str) -> Callable[[OpContext], None]:
    def convert(c: OpContext) -> None:
        tensor_ops.variadic(c.b, op, c.out, [k for k in c.inputs if k])

    return convert


def dequantize_op(c: OpContext) -> None:
    """Constant inputs (float16 or quantized weights) fold to float32 constants; a quantized
    activation already holds its real value in float32 (see :mod:`.quantized`)."""
    x = c.input(0)
    value = c.b.value(x)
    quant = c.quants.get(x)
    if value.const is not None:
        if quant is not None and value.const.dtype.kind in "iu":
            c.b.add_constant(c.out, dequantize(value.const, quant), quant)
        else:
            c.b.add_constant(c.out, value.const.astype(np.float32))
    elif c.dtypes[x] == np.float32:
        c.b.alias(c.out, x)
    else:
        tensor_ops.cast(c.b, c.out, x, "float32")


def quantize_op(c: OpContext) -> None:
    """Quantizing (or requantizing) keeps the real value: the output is computed in float32
    like every quantized activation (rounded there only with fake quantization)."""
    c.b.alias(c.out, c.input(0))


def densify(c: OpContext) -> None:
    c.b.add_constant(c.out, c.const(0, "sparse weights"))


def _bias(c: OpContext, i: int) -> str | None:
    key = c.optional(i)
    return c.b.get(key) if key is not None else None


CONVERTERS: dict[str, Callable[[OpContext], None]] = {
    "CONV_2D": conv_2d, "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "TRANSPOSE_CONV": transpose_conv, "FULLY_CONNECTED": fully_connected,
    "AVERAGE_POOL_2D": pool("AveragePool"), "MAX_POOL_2D": pool("MaxPool"),
    "ADD": binary("Add"), "SUB": binary("Sub"), "MUL": binary("Mul"), "DIV": binary("Div"),
    "POW": binary("Pow"), "MAXIMUM": binary("Max"), "MINIMUM": binary("Min"),
    "PRELU": binary("PRelu"), "SQUARED_DIFFERENCE": squared_difference, "ADD_N": variadic("Sum"),
    "RELU": unary("Relu"), "RELU6": clip(0.0, 6.0), "RELU_N1_TO_1": clip(-1.0, 1.0),
    "RELU_0_TO_1": clip(0.0, 1.0), "LOGISTIC": unary("Sigmoid"), "TANH": unary("Tanh"),
    "HARD_SWISH": unary("HardSwish"), "ELU": unary("Elu"), "LEAKY_RELU": leaky_relu,
    "GELU": gelu, "EXP": unary("Exp"), "LOG": unary("Log"), "SQRT": unary("Sqrt"),
    "RSQRT": rsqrt, "SQUARE": square, "ABS": unary("Abs"), "NEG": unary("Neg"),
    "SIN": unary("Sin"), "COS": unary("Cos"), "FLOOR": unary("Floor"), "CEIL": unary("Ceil"),
    "ROUND": unary("Round"), "SIGN": unary("Sign"),
    "MEAN": reduce("ReduceMean"), "SUM": reduce("ReduceSum"), "REDUCE_MAX": reduce("ReduceMax"),
    "REDUCE_MIN": reduce("ReduceMin"), "REDUCE_PROD": reduce("ReduceProd"),
    "ARG_MAX": arg_reduce("ArgMax"), "ARG_MIN": arg_reduce("ArgMin"),
    "RESHAPE": reshape, "SOFTMAX": softmax, "LOG_SOFTMAX": log_softmax,
    "CONCATENATION": concatenation, "PAD": pad, "PADV2": pad, "MIRROR_PAD": mirror_pad,
    "RESIZE_BILINEAR": resize("linear"), "RESIZE_NEAREST_NEIGHBOR": resize("nearest"),
    "TRANSPOSE": transpose, "STRIDED_SLICE": strided_slice_op, "SLICE": slice_op,
    "SQUEEZE": squeeze, "EXPAND_DIMS": expand_dims, "SPLIT": split, "SPLIT_V": split_v,
    "PACK": pack, "UNPACK": unpack, "GATHER": gather, "TILE": tile, "CAST": cast,
    "SHAPE": shape, "DEPTH_TO_SPACE": depth_space("DepthToSpace"),
    "SPACE_TO_DEPTH": depth_space("SpaceToDepth"), "BATCH_MATMUL": batch_matmul,
    "DEQUANTIZE": dequantize_op, "QUANTIZE": quantize_op, "DENSIFY": densify,
}
