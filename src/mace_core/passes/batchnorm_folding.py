"""Fold inference BatchNormalization into the Conv / ConvTranspose / Gemm before it.

``BN(y) = s * y + t`` per output channel, with ``s = scale / sqrt(var + epsilon)`` and
``t = B - mean * s``; since ``y`` is linear in the weights, scaling each output channel's
weights by ``s`` and turning the bias ``b`` into ``s * b + t`` gives the same result with one
node less. Applies when the producer's weights (and bias, if any) and all BN parameters are
constants, the producer's output is read by the BN alone, and the producer carries no fused
activation. A standalone BN is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mace_core.dtypes import FLOAT_TYPES, DType
from mace_core.ir import Graph, Node
from mace_core.passes.graph_edit import (
    absorb_successor,
    drop_unused_constants,
    has_activation,
    input_or_empty,
    new_constant,
    set_input,
    sole_reader,
)
from mace_core.specs import PassContext

# (weights, bias or None, s, t, attrs) -> (new weights, new bias, attrs to set) or None
Folder = Callable[..., "tuple[np.ndarray, np.ndarray, dict] | None"]


def _fold_conv(w, b, s, t, attrs):
    if w.ndim < 3 or w.shape[0] != s.size:
        return None
    scaled = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
    return scaled, (0.0 if b is None else b) * s + t, {}


def _fold_conv_transpose(w, b, s, t, attrs):
    # W is (C_in, M / group, k...): output channel g * (M / group) + j sits at W[group g, j].
    group = int(attrs.get("group", 1))
    if w.ndim < 3 or w.shape[0] % group or w.shape[1] * group != s.size:
        return None
    kernel = w.shape[2:]
    grouped = w.reshape((group, w.shape[0] // group, w.shape[1]) + kernel)
    per_channel = s.reshape((group, 1, w.shape[1]) + (1,) * len(kernel))
    scaled = (grouped * per_channel).reshape(w.shape)
    return scaled, (0.0 if b is None else b) * s + t, {}


def _fold_gemm(w, c, s, t, attrs):
    if w.ndim != 2:
        return None
    trans_b = bool(attrs.get("transB", 0))
    if (w.shape[0] if trans_b else w.shape[1]) != s.size:
        return None
    scaled = w * (s[:, None] if trans_b else s[None, :])
    beta = float(attrs.get("beta", 1.0))
    bias = t if c is None else (beta * c) * s + t
    return scaled, bias, {"beta": 1.0}


FOLDERS: dict[str, Folder] = {
    "Conv": _fold_conv,
    "ConvTranspose": _fold_conv_transpose,
    "Gemm": _fold_gemm,
}


def _channel_params(graph: Graph, bn: Node, epsilon: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``(s, t)`` of ``BN(y) = s * y + t`` in float64, or None unless all are 1-D constants."""
    values = [graph.constants.get(name) for name in bn.inputs[1:5]]
    if len(values) != 4 or any(v is None or v.ndim != 1 for v in values):
        return None
    scale, shift, mean, var = (np.asarray(v, dtype=np.float64) for v in values)  # type: ignore[arg-type]
    if not scale.size == shift.size == mean.size == var.size:
        return None
    s = scale / np.sqrt(var + epsilon)
    return s, shift - mean * s


def _try_fold(graph: Graph, bn: Node, producer: Node, ctx: PassContext) -> bool:
    bn_attrs = ctx.registry.schema(bn).resolve_attrs(bn)
    if bn_attrs.get("training_mode") or any(bn.outputs[1:]):
        return False
    params = _channel_params(graph, bn, float(bn_attrs["epsilon"]))
    weight_name, bias_name = producer.inputs[1], input_or_empty(producer, 2)
    w = graph.constants.get(weight_name)
    b = graph.constants.get(bias_name) if bias_name else None
    if params is None or w is None or (bias_name and b is None):
        return False
    if DType.from_numpy(w.dtype) not in FLOAT_TYPES:
        return False
    attrs = ctx.registry.schema(producer).resolve_attrs(producer)
    folded = FOLDERS[producer.op_type](
        w.astype(np.float64), None if b is None else b.astype(np.float64), *params, attrs
    )
    if folded is None:
        return False
    new_w, new_b, new_attrs = folded
    producer.inputs[1] = new_constant(graph, f"{producer.name}_weight_bn", new_w.astype(w.dtype))
    set_input(producer, 2, new_constant(graph, f"{producer.name}_bias_bn", new_b.astype(w.dtype)))
    producer.attrs.update(new_attrs)
    absorb_successor(graph, producer, bn)
    drop_unused_constants(graph, [weight_name, bias_name, *bn.inputs[1:5]])
    return True


def fold_batchnorm(graph: Graph, ctx: PassContext) -> bool:
    """The ``batchnorm_folding`` pass; True when a BatchNormalization was folded."""
    changed = False
    progress = True
    while progress:
        progress = False
        producers, consumers = graph.producers(), graph.consumers()
        touched: set[int] = set()
        for bn in list(graph.nodes):
            if bn.op_type != "BatchNormalization" or bn.domain:
                continue
            producer = producers.get(bn.inputs[0])
            if (producer is None or producer.domain or producer.op_type not in FOLDERS
                    or id(producer) in touched or has_activation(producer)
                    or sole_reader(graph, bn.inputs[0], consumers) is not bn):
                continue
            if _try_fold(graph, bn, producer, ctx):
                touched.update((id(producer), id(bn)))
                progress = changed = True
    return changed
