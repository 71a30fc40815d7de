"""TensorFlow ops -> mace-core (ONNX-semantics) nodes; ``CONVERTERS`` maps op type to converter.

Spatial ops honour ``data_format`` (NHWC through the channels-first view, NCHW as is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from mace_converters.nhwc import nn_ops, tensor_ops
from mace_converters.nhwc.builder import LayoutBuilder
from mace_converters.nhwc.strided_slice import SliceMasks, strided_slice
from mace_core.errors import ConversionError


@attrs.define
class TfOp:
    """One TensorFlow op being converted; keys are tensor names ("node:index")."""

    b: LayoutBuilder
    op: Any
    shapes: dict[str, tuple[int, ...]]

    @property
    def type(self) -> str:
        return self.op.type

    @property
    def inputs(self) -> list[str]:
        return [t.name for t in self.op.inputs]

    @property
    def outputs(self) -> list[str]:
        return [t.name for t in self.op.outputs]

    @property
    def out(self) -> str:
        return self.outputs[0]

    def input(self, i: int) -> str:
        return self.op.inputs[i].name

    def attr(self, name: str, default: Any = None) -> Any:
        try:
            value = self.op.get_attr(name)
        except ValueError:
            return default
        return value.decode() if isinstance(value, bytes) else value

    def const(self, i: int, what: str) -> np.ndarray:
        return self.b.const(self.input(i), f"{self.type} {what}")

    def dtype(self, i: int = 0) -> str:
        return self.op.outputs[i].dtype.name

    @property
    def nhwc(self) -> bool:
        return self.attr("data_format", "NHWC") in ("NHWC", "NDHWC")

    def spatial(self, values: list[int]) -> list[int]:
        """The H, W entries of a 4-element strides/dilations/ksize attribute."""
        return list(values[1:3]) if self.nhwc else list(values[2:4])

    def padding(self) -> nn_ops.Padding:
        padding = self.attr("padding")
        if padding == "EXPLICIT":
            pairs = np.asarray(self.attr("explicit_paddings")).reshape(4, 2)
            return [tuple(p) for p in (pairs[1:3] if self.nhwc else pairs[2:4])]
        return padding

    def fail(self, message: str) -> ConversionError:
        return ConversionError(f"{self.type} {self.op.name!r}: {message}")


def conv2d(c: TfOp) -> None:
    x, w = c.input(0), c.input(1)
    in_channels = c.shapes[x][3 if c.nhwc else 1]
    w_in = c.shapes[w][2]
    if w_in <= 0 or in_channels % w_in:
        raise c.fail(f"{in_channels} input channels do not split into groups of {w_in}")
    nn_ops.conv2d(c.b, c.out, x, nn_ops.weight(c.b, w, (3, 2, 0, 1)), None,
                  strides=c.spatial(c.attr("strides")),
                  dilations=c.spatial(c.attr("dilations", [1, 1, 1, 1])),
                  padding=c.padding(), group=in_channels // w_in, channels_last=c.nhwc)


def depthwise(c: TfOp) -> None:
    x, w = c.input(0), c.input(1)
    kh, kw, channels, multiplier = c.shapes[w]
    weights = nn_ops.weight(c.b, w, (3, 2, 0, 1), (kh, kw, 1, channels * multiplier))
    nn_ops.conv2d(c.b, c.out, x, weights, None, strides=c.spatial(c.attr("strides")),
                  dilations=c.spatial(c.attr("dilations", [1, 1, 1, 1])),
                  padding=c.padding(), group=channels, channels_last=c.nhwc)


def conv2d_transpose(c: TfOp) -> None:
    sizes, w, x = c.const(0, "input_sizes"), c.input(1), c.input(2)
    hw = slice(1, 3) if c.nhwc else slice(2, 4)
    padding = c.padding()
    if not isinstance(padding, str):
        raise c.fail("explicit padding of a transposed convolution is not supported")
    nn_ops.conv_transpose(c.b, c.out, x, nn_ops.weight(c.b, w, (3, 2, 0, 1)), None,
                          in_hw=c.shapes[x][hw], out_hw=[int(v) for v in sizes[hw]],
                          kernel=c.shapes[w][:2], strides=c.spatial(c.attr("strides")),
                          padding=padding, channels_last=c.nhwc)


def bias_add(c: TfOp) -> None:
    x, bias = c.input(0), c.input(1)
    if c.nhwc or c.b.rank(x) <= 2:
        tensor_ops.binary(c.b, "Add", c.out, x, bias)
        return
    column = f"{bias}__column"
    trailing = (1,) * (c.b.rank(x) - 2)
    tensor_ops.reshape(c.b, column, bias, np.array([-1, *trailing]), len(trailing) + 1)
    tensor_ops.binary(c.b, "Add", c.out, x, column)


def fused_batch_norm(c: TfOp) -> None:
    if c.attr("is_training", False):
        raise c.fail("is_training=True: convert the model in inference mode")
    nn_ops.batch_norm(c.b, c.out, c.input(0), *c.inputs[1:5], c.attr("epsilon", 1e-3),
                      channels_last=c.nhwc)


def pool(op: str) -> Callable[[TfOp], None]:
    def convert(c: TfOp) -> None:
        nn_ops.pool(c.b, op, c.out, c.input(0), kernel=c.spatial(c.attr("ksize")),
                    strides=c.spatial(c.attr("strides")), padding=c.padding(),
                    channels_last=c.nhwc)

    return convert


def matmul(c: TfOp) -> None:
    nn_ops.matmul(c.b, c.out, c.input(0), c.input(1), bool(c.attr("transpose_a", False)),
                  bool(c.attr("transpose_b", False)))


def batch_matmul(c: TfOp) -> None:
    nn_ops.matmul(c.b, c.out, c.input(0), c.input(1), bool(c.attr("adj_x", False)),
                  bool(c.attr("adj_y", False)))


def binary(op: str) -> Callable[[TfOp], None]:
    def convert(c: TfOp) -> None:
        tensor_ops.binary(c.b, op, c.out, c.input(0), c.input(1))

    return convert


def unary(op: str, **attrs) -> Callable[[TfOp], None]:
    def convert(c: TfOp) -> None:
        tensor_ops.unary(c.b, op, c.out, c.input(0), attrs or None)

    return convert


def relu6(c: TfOp) -> None:
    tensor_ops.clip(c.b, c.out, c.input(0), 0.0, 6.0)


def leaky_relu(c: TfOp) -> None:
    tensor_ops.unary(c.b, "LeakyRelu", c.out, c.input(0), {"alpha": float(c.attr("alpha"))})


def rsqrt(c: TfOp) -> None:
    root = f"{c.out}__sqrt"
    tensor_ops.unary(c.b, "Sqrt", root, c.input(0))
    tensor_ops.unary(c.b, "Reciprocal", c.out, root)


def square(c: TfOp) -> None:
    tensor_ops.binary(c.b, "Mul", c.out, c.input(0), c.input(0))


def squared_difference(c: TfOp) -> None:
    diff = f"{c.out}__diff"
    tensor_ops.binary(c.b, "Sub", diff, c.input(0), c.input(1))
    tensor_ops.binary(c.b, "Mul", c.out, diff, diff)


def add_n(c: TfOp) -> None:
    tensor_ops.variadic(c.b, "Sum", c.out, c.inputs)


def reduce(op: str) -> Callable[[TfOp], None]:
    def convert(c: TfOp) -> None:
        tensor_ops.reduce(c.b, op, c.out, c.input(0), c.const(1, "axes").reshape(-1).tolist(),
                          bool(c.attr("keep_dims", False)))

    return convert


def arg_reduce(op: str) -> Callable[[TfOp], None]:
    def convert(c: TfOp) -> None:
        axis = int(c.const(1, "axis").reshape(-1)[0])
        tensor_ops.arg_reduce(c.b, op, c.out, c.input(0), axis, c.dtype())

    return convert


def identity(c: TfOp) -> None:
    for source, target in zip(c.inputs, c.outputs, strict=False):
        c.b.alias(target, source)


def reshape(c: TfOp) -> None:
    tensor_ops.reshape(c.b, c.out, c.input(0), c.input(1), len(c.shapes[c.out]))


def squeeze(c: TfOp) -> None:
    dims = list(c.attr("squeeze_dims", []) or [])
    if not dims:
        dims = [i for i, d in enumerate(c.shapes[c.input(0)]) if d == 1]
    tensor_ops.squeeze(c.b, c.out, c.input(0), dims)


def expand_dims(c: TfOp) -> None:
    tensor_ops.expand_dims(c.b, c.out, c.input(0), int(c.const(1, "axis").reshape(-1)[0]))


def softmax(op: str) -> Callable[[TfOp], None]:
    def convert(c: TfOp) -> None:
        tensor_ops.softmax(c.b, c.out, c.input(0), -1, op=op)

    return convert


def pad(c: TfOp) -> None:
    value = c.input(2) if c.type == "PadV2" else None
    tensor_ops.pad(c.b, c.out, c.input(0), c.const(1, "paddings"), "constant", value)


def mirror_pad(c: TfOp) -> None:
    if c.attr("mode") != "REFLECT":
        raise c.fail("SYMMETRIC mirror padding has no ONNX equivalent (REFLECT is supported)")
    tensor_ops.pad(c.b, c.out, c.input(0), c.const(1, "paddings"), "reflect")


def concat_v2(c: TfOp) -> None:
    axis = int(c.const(len(c.inputs) - 1, "axis").reshape(-1)[0])
    tensor_ops.concat(c.b, c.out, c.inputs[:-1], axis)


def strided_slice_op(c: TfOp) -> None:
    masks = SliceMasks(c.attr("begin_mask", 0), c.attr("end_mask", 0),
                       c.attr("ellipsis_mask", 0), c.attr("new_axis_mask", 0),
                       c.attr("shrink_axis_mask", 0))
    strided_slice(c.b, c.out, c.input(0), c.const(1, "begin").tolist(),
                  c.const(2, "end").tolist(), c.const(3, "strides").tolist(), masks)


def slice_op(c: TfOp) -> None:
    tensor_ops.slice_(c.b, c.out, c.input(0), c.const(1, "begin").tolist(),
                      c.const(2, "size").tolist())


def transpose(c: TfOp) -> None:
    tensor_ops.transpose(c.b, c.out, c.input(0), c.const(1, "perm").tolist())


def resize(mode: str) -> Callable[[TfOp], None]:
    def convert(c: TfOp) -> None:
        nn_ops.resize(c.b, c.out, c.input(0), c.input(1), mode=mode,
                      align_corners=bool(c.attr("align_corners", False)),
                      half_pixel=bool(c.attr("half_pixel_centers", False)))

    return convert


def shape(c: TfOp) -> None:
    tensor_ops.shape(c.b, c.out, c.input(0), c.dtype())


def pack(c: TfOp) -> None:
    tensor_ops.pack(c.b, c.out, c.inputs, int(c.attr("axis", 0)))


def unpack(c: TfOp) -> None:
    tensor_ops.unpack(c.b, c.outputs, c.input(0), int(c.attr("axis", 0)))


def split(c: TfOp) -> None:
    axis = int(c.const(0, "axis").reshape(-1)[0])
    dim = c.shapes[c.input(1)][axis]
    n = len(c.outputs)
    tensor_ops.split(c.b, c.outputs, c.input(1), axis, [dim // n] * n)


def split_v(c: TfOp) -> None:
    sizes = c.const(1, "size_splits").astype(np.int64)
    axis = int(c.const(2, "axis").reshape(-1)[0])
    if (sizes < 0).any():
        sizes[sizes < 0] = c.shapes[c.input(0)][axis] - sizes[sizes >= 0].sum()
    tensor_ops.split(c.b, c.outputs, c.input(0), axis, sizes.tolist())


def gather_v2(c: TfOp) -> None:
    if c.attr("batch_dims", 0):
        raise c.fail("batch_dims is not supported")
    axis = int(c.const(2, "axis").reshape(-1)[0]) if c.type == "GatherV2" else 0
    tensor_ops.gather(c.b, c.out, c.input(0), c.input(1), axis, len(c.shapes[c.out]))


def tile(c: TfOp) -> None:
    tensor_ops.tile(c.b, c.out, c.input(0), c.const(1, "multiples").tolist())


def cast(c: TfOp) -> None:
    tensor_ops.cast(c.b, c.out, c.input(0), c.dtype())


def depth_space(op: str) -> Callable[[TfOp], None]:
    def convert(c: TfOp) -> None:
        nn_ops.depth_space(c.b, op, c.out, c.input(0), int(c.attr("block_size")),
                           channels_last=c.nhwc)

    return convert


def no_op(c: TfOp) -> None:
    """Ops without data outputs (NoOp, Assert) are dropped."""


CONVERTERS: dict[str, Callable[[TfOp], None]] = {
    "Conv2D": conv2d, "DepthwiseConv2dNative": depthwise,
    "Conv2DBackpropInput": conv2d_transpose, "BiasAdd": bias_add,
    "FusedBatchNorm": fused_batch_norm, "FusedBatchNormV2": fused_batch_norm,
    "FusedBatchNormV3": fused_batch_norm, "AvgPool": pool("AveragePool"),
    "MaxPool": pool("MaxPool"), "MatMul": matmul, "BatchMatMul": batch_matmul,
    "BatchMatMulV2": batch_matmul, "BatchMatMulV3": batch_matmul,
    "Add": binary("Add"), "AddV2": binary("Add"), "Sub": binary("Sub"), "Mul": binary("Mul"),
    "RealDiv": binary("Div"), "Div": binary("Div"), "Maximum": binary("Max"),
    "Minimum": binary("Min"), "Pow": binary("Pow"), "SquaredDifference": squared_difference,
    "AddN": add_n, "Relu": unary("Relu"), "Relu6": relu6, "Elu": unary("Elu"),
    "Selu": unary("Selu", alpha=1.6732632423543772, gamma=1.0507009873554805),
    "LeakyRelu": leaky_relu, "Sigmoid": unary("Sigmoid"), "Tanh": unary("Tanh"),
    "Softplus": unary("Softplus"), "Exp": unary("Exp"), "Log": unary("Log"),
    "Sqrt": unary("Sqrt"), "Rsqrt": rsqrt, "Square": square, "Abs": unary("Abs"),
    "Neg": unary("Neg"), "Floor": unary("Floor"), "Ceil": unary("Ceil"),
    "Round": unary("Round"), "Sign": unary("Sign"), "Erf": unary("Erf"),
    "Mean": reduce("ReduceMean"), "Sum": reduce("ReduceSum"), "Max": reduce("ReduceMax"),
    "Min": reduce("ReduceMin"), "Prod": reduce("ReduceProd"),
    "ArgMax": arg_reduce("ArgMax"), "ArgMin": arg_reduce("ArgMin"),
    "Identity": identity, "IdentityN": identity, "StopGradient": identity,
    "Snapshot": identity, "NoOp": no_op, "Reshape": reshape, "Squeeze": squeeze,
    "ExpandDims": expand_dims, "Softmax": softmax("Softmax"),
    "LogSoftmax": softmax("LogSoftmax"), "Pad": pad, "PadV2": pad, "MirrorPad": mirror_pad,
    "ConcatV2": concat_v2, "StridedSlice": strided_slice_op, "Slice": slice_op,
    "Transpose": transpose, "ResizeBilinear": resize("linear"),
    "ResizeNearestNeighbor": resize("nearest"), "Shape": shape, "Pack": pack,
    "Unpack": unpack, "Split": split, "SplitV": split_v, "GatherV2": gather_v2,
    "Gather": gather_v2, "Tile": tile, "Cast": cast,
    "DepthToSpace": depth_space("DepthToSpace"), "SpaceToDepth": depth_space("SpaceToDepth"),
}
