"""The small ONNX canonicalisation applied to tf2onnx output before any engine sees it.

tf2onnx leaves three things that some engines handle badly or slowly:

* a depthwise convolution's BatchNorm as a per-channel ``Mul`` + ``Add`` after the ``Conv``
  (folded here into the Conv's weight and bias);
* Keras ``ZeroPadding2D`` as a ``Pad`` in front of a ``Conv`` (folded into the Conv's pads);
* ``Pad`` nodes without an explicit ``mode`` / ``constant_value`` (spelled out, because the
  ncnn model made by pnnx otherwise fails to load: "layer Pad not exists or registered").
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


class _Graph:
    """Index over an ONNX graph: initializers by name, producers and consumers."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.graph = model.graph
        self.inits = {t.name: t for t in self.graph.initializer}

    def const(self, name: str) -> np.ndarray | None:
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        for node in self.graph.node:
            if node.op_type == "Constant" and node.output[0] == name:
                for attr in node.attribute:
                    if attr.name == "value":
                        return numpy_helper.to_array(attr.t)
        return None

    def set_init(self, name: str, value: np.ndarray) -> None:
        tensor = numpy_helper.from_array(np.ascontiguousarray(value), name)
        if name in self.inits:
            self.inits[name].CopyFrom(tensor)
        else:
            self.graph.initializer.append(tensor)
            self.inits[name] = self.graph.initializer[-1]

    def consumers(self, name: str) -> list[onnx.NodeProto]:
        return [n for n in self.graph.node if name in n.input]

    def is_output(self, name: str) -> bool:
        return any(o.name == name for o in self.graph.output)

    def readers(self, name: str) -> int:
        """How many places read ``name``: node inputs plus graph outputs."""
        return len(self.consumers(name)) + int(self.is_output(name))

    def remove(self, node: onnx.NodeProto, keep: str, drop: str) -> None:
        """Remove ``node`` and make readers of its output ``drop`` read ``keep`` instead."""
        self.graph.node.remove(node)
        for other in self.graph.node:
            for i, name in enumerate(other.input):
                if name == drop:
                    other.input[i] = keep
        for out in self.graph.output:
            if out.name == drop:
                # keep the graph's output name: rename the producer's output instead
                for other in self.graph.node:
                    for i, name in enumerate(other.output):
                        if name == keep:
                            other.output[i] = drop
                    for i, name in enumerate(other.input):
                        if name == keep:
                            other.input[i] = drop


def _attr(node: onnx.NodeProto, name: str, default=None):
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def _set_attr(node: onnx.NodeProto, name: str, value) -> None:
    for attr in list(node.attribute):
        if attr.name == name:
            node.attribute.remove(attr)
    node.attribute.append(helper.make_attribute(name, value))


def _channel_vector(value: np.ndarray, channels: int) -> np.ndarray | None:
    """``value`` as a length-``channels`` vector if it broadcasts per channel of NCHW
    (a scalar, or shape ``[..., C, 1, 1]`` with leading ones)."""
    if value.size == 1:
        return np.full(channels, float(value.reshape(-1)[0]), np.float32)
    shape = list(value.shape)
    while len(shape) > 3 and shape[0] == 1:
        shape.pop(0)
    if shape == [channels, 1, 1]:
        return value.reshape(-1).astype(np.float32)
    return None


def _fold_affine(g: _Graph) -> bool:
    """Fold one ``Conv -> Mul(c)`` or ``Conv -> Add(c)`` with a per-channel constant."""
    for node in list(g.graph.node):
        if node.op_type not in ("Mul", "Add"):
            continue
        for pos in (0, 1):
            src, other = node.input[pos], node.input[1 - pos]
            conv = next((n for n in g.graph.node if src in n.output), None)
            const = g.const(other)
            if conv is None or conv.op_type != "Conv" or const is None or g.readers(src) != 1:
                continue
            weight = g.const(conv.input[1])
            if weight is None or len(g.consumers(conv.input[1])) != 1:
                continue
            vec = _channel_vector(const, weight.shape[0])
            if vec is None:
                continue
            bias_name = conv.input[2] if len(conv.input) > 2 and conv.input[2] else None
            bias = g.const(bias_name) if bias_name else np.zeros(weight.shape[0], np.float32)
            if bias is None:
                continue
            if node.op_type == "Mul":
                weight = weight * vec.reshape(-1, *([1] * (weight.ndim - 1)))
                bias = bias * vec
            else:
                bias = bias + vec
            g.set_init(conv.input[1], weight.astype(np.float32))
            if bias_name is None:
                bias_name = conv.input[1] + "_bias"
                while len(conv.input) < 3:
                    conv.input.append("")
                conv.input[2] = bias_name
            g.set_init(bias_name, bias.astype(np.float32))
            g.remove(node, keep=src, drop=node.output[0])
            return True
    return False


def _pad_amounts(g: _Graph, pad: onnx.NodeProto) -> np.ndarray | None:
    if len(pad.input) > 1 and pad.input[1]:
        value = g.const(pad.input[1])
        return None if value is None else value.astype(np.int64)
    pads = _attr(pad, "pads")
    return None if pads is None else np.asarray(pads, np.int64)


def _pad_is_zero_constant(g: _Graph, pad: onnx.NodeProto) -> bool:
    mode = _attr(pad, "mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        return False
    if len(pad.input) > 2 and pad.input[2]:
        value = g.const(pad.input[2])
        return value is not None and float(np.asarray(value).reshape(-1)[0]) == 0.0
    return float(_attr(pad, "value", 0.0)) == 0.0


def _fold_pad(g: _Graph) -> bool:
    """Fold one zero ``Pad`` over the spatial dims into the single ``Conv`` reading it."""
    for pad in list(g.graph.node):
        if pad.op_type != "Pad" or not _pad_is_zero_constant(g, pad):
            continue
        readers = g.consumers(pad.output[0])
        if len(readers) != 1 or g.is_output(pad.output[0]) or readers[0].op_type != "Conv":
            continue
        conv = readers[0]
        amounts = _pad_amounts(g, pad)
        if amounts is None or len(amounts) != 8 or any(amounts[[0, 1, 4, 5]]):
            continue
        if _attr(conv, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        old = list(_attr(conv, "pads", [0, 0, 0, 0]))
        new = [old[0] + int(amounts[2]), old[1] + int(amounts[3]),
               old[2] + int(amounts[6]), old[3] + int(amounts[7])]
        _set_attr(conv, "pads", new)
        g.remove(pad, keep=pad.input[0], drop=pad.output[0])
        return True
    return False


def _spell_out_pads(g: _Graph) -> None:
    """Give every remaining Pad an explicit mode and constant_value input (opset >= 11)."""
    for pad in g.graph.node:
        if pad.op_type != "Pad":
            continue
        mode = _attr(pad, "mode", b"constant")
        _set_attr(pad, "mode", mode.decode() if isinstance(mode, bytes) else mode)
        if len(pad.input) == 2:
            name = pad.name + "_constant_value"
            g.set_init(name, np.array(0.0, np.float32))
            pad.input.append(name)


def _drop_unused_initializers(g: _Graph) -> None:
    used = {i for n in g.graph.node for i in n.input} | {o.name for o in g.graph.output}
    for tensor in list(g.graph.initializer):
        if tensor.name not in used:
            g.graph.initializer.remove(tensor)


def canonicalize(model: onnx.ModelProto) -> onnx.ModelProto:
    """Apply the folds above until nothing changes; returns the model (edited in place)."""
    g = _Graph(model)
    while _fold_affine(g) or _fold_pad(g):
        pass
    _spell_out_pads(g)
    _drop_unused_initializers(g)
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    return model


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """``{op_type: count}`` of the graph's nodes, sorted by op type."""
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))
