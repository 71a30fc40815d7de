"""Fusions into compute ops: activations, and biases given as a separate Add.

``activation_fusion``: ``Conv -> Relu`` (and the other FUSABLE activations after Conv,
ConvTranspose, Gemm, MatMul, Add, Sub, Mul, Div) becomes one node with attributes
``activation`` and ``activation_params`` (order: ``ops.fused_activation.FUSABLE``). It applies
when the producer's schema accepts those attributes, the producer has no activation yet,
its output is float, read by the activation alone and not a graph output. Clip needs
constant bounds (attributes or inputs); a missing bound is +-inf.

``bias_fusion``: ``Conv`` / ``ConvTranspose`` followed by ``Add`` of a per-channel constant
(shape ``(C, 1, 1)``, ``(1, C, 1, 1)``, a scalar...) folds the constant into the bias input;
``MatMul`` of a 2-D input by a 2-D constant followed by ``Add`` of a ``(N,)`` / ``(1, N)``
constant becomes ``Gemm`` with that bias.
"""

from __future__ import annotations

import numpy as np

from mace_core.ir import Graph, Node
from mace_core.ops.fused_activation import FUSABLE
from mace_core.passes.graph_edit import (
    absorb_successor,
    drop_unused_constants,
    has_activation,
    input_or_empty,
    is_float,
    new_constant,
    set_input,
    sole_reader,
)
from mace_core.specs import PassContext

PRODUCERS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div"})


def _scalar(graph: Graph, name: str) -> float | None:
    value = graph.constants.get(name)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _clip_bounds(graph: Graph, clip: Node, attrs: dict) -> list[float] | None:
    bounds = []
    for index, attr, missing in ((1, "min", -np.inf), (2, "max", np.inf)):
        name = input_or_empty(clip, index)
        if name:  # Clip-11+: bound as an input, which must be constant
            value = _scalar(graph, name)
            if value is None:
                return None
        else:  # Clip-6: bound as an attribute
            value = missing if attrs.get(attr) is None else float(attrs[attr])
        # the reference Clip casts bounds to the input's dtype: match its rounding
        dtype = graph.desc(clip.inputs[0]).dtype.numpy
        bounds.append(float(np.asarray(value, dtype=dtype)))
    return bounds


def activation_of(graph: Graph, node: Node, ctx: PassContext) -> tuple[str, list[float]] | None:
    """``(activation, params)`` when ``node`` is a fusable activation, else None."""
    if node.domain or node.op_type not in FUSABLE:
        return None
    attrs = ctx.registry.schema(node).resolve_attrs(node)
    op = node.op_type
    if op == "Clip":
        bounds = _clip_bounds(graph, node, attrs)
        return None if bounds is None else (op, bounds)
    if op in ("LeakyRelu", "Swish"):
        return op, [float(attrs["alpha"])]
    if op == "HardSigmoid":
        return op, [float(attrs["alpha"]), float(attrs["beta"])]
    return op, []


def _accepts_activation(node: Node, ctx: PassContext) -> bool:
    schema = ctx.registry.schemas.get(node.op_key)
    return schema is not None and "activation" in schema.attrs


def fuse_activations(graph: Graph, ctx: PassContext) -> bool:
    """The ``activation_fusion`` pass; True when an activation was fused."""
    changed = False
    producers, consumers = graph.producers(), graph.consumers()
    for act in list(graph.nodes):
        if act.domain or act.op_type not in FUSABLE or not act.inputs:
            continue
        producer = producers.get(act.inputs[0])
        if (producer is None or producer.domain or producer.op_type not in PRODUCERS
                or producer.outputs[0] != act.inputs[0] or has_activation(producer)
                or not _accepts_activation(producer, ctx) or not is_float(graph, act.inputs[0])
                or sole_reader(graph, act.inputs[0], consumers) is not act):
            continue
        fused = activation_of(graph, act, ctx)
        if fused is None:
            continue
        producer.attrs["activation"], producer.attrs["activation_params"] = fused
        absorb_successor(graph, producer, act)
        drop_unused_constants(graph, act.inputs[1:])
        # the producer now writes act's output: keep the maps right for chains
        producers[act.outputs[0]] = producer
        changed = True
    return changed


# -- bias fusion ------------------------------------------------------------------------
def _channel_vector(value: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray | None:
    """``value`` as a ``(C,)`` vector when adding it to ``out_shape`` (N, C, ...) only varies
    along the channel axis and does not change the shape; else None."""
    rank = len(out_shape)
    if rank < 2 or value.ndim > rank:
        return None
    full = value.reshape((1,) * (rank - value.ndim) + value.shape)
    if any(d != 1 for i, d in enumerate(full.shape) if i != 1) or full.shape[1] not in (
            1, out_shape[1]):
        return None
    return np.broadcast_to(full, (1, out_shape[1]) + (1,) * (rank - 2)).reshape(-1)


def _bias_into_conv(graph: Graph, conv: Node, bias: np.ndarray, out: tuple[int, ...]) -> bool:
    vector = _channel_vector(bias, out)
    old_name = input_or_empty(conv, 2)
    old = graph.constants.get(old_name) if old_name else None
    if vector is None or (old_name and old is None):
        return False
    total = vector if old is None else old + vector
    set_input(conv, 2, new_constant(graph, f"{conv.name}_bias", total.astype(bias.dtype)))
    drop_unused_constants(graph, [old_name])
    return True


def _matmul_into_gemm(graph: Graph, matmul: Node, bias_name: str, ctx: PassContext) -> bool:
    a = graph.desc(matmul.inputs[0])
    w = graph.constants.get(matmul.inputs[1])
    bias = graph.constants[bias_name]
    if ("", "Gemm") not in ctx.registry.schemas or len(a.shape) != 2 or w is None or w.ndim != 2:
        return False
    if bias.shape not in ((w.shape[1],), (1, w.shape[1])):
        return False
    matmul.op_type = "Gemm"
    set_input(matmul, 2, bias_name)
    return True


def fuse_bias(graph: Graph, ctx: PassContext) -> bool:
    """The ``bias_fusion`` pass; True when an Add was folded into a bias."""
    changed = False
    producers, consumers = graph.producers(), graph.consumers()
    touched: set[int] = set()
    for add in list(graph.nodes):
        if add.op_type != "Add" or add.domain or has_activation(add):
            continue
        for data, const in ((0, 1), (1, 0)):
            x, c = add.inputs[data], add.inputs[const]
            producer = producers.get(x)
            if (c not in graph.constants or producer is None or producer.domain
                    or id(producer) in touched or has_activation(producer)
                    or sole_reader(graph, x, consumers) is not add):
                continue
            x_desc, out_desc = graph.desc(x), graph.desc(add.outputs[0])
            bias = graph.constants[c]
            if (x_desc.shape != out_desc.shape or bias.dtype != x_desc.dtype.numpy
                    or not is_float(graph, x)):
                continue
            if producer.op_type in ("Conv", "ConvTranspose"):
                done = _bias_into_conv(graph, producer, bias, out_desc.shape)
            elif producer.op_type == "MatMul":
                done = _matmul_into_gemm(graph, producer, c, ctx)
            else:
                done = False
            if done:
                absorb_successor(graph, producer, add)
                drop_unused_constants(graph, [c])
                touched.add(id(producer))
                changed = True
                break
    return changed
