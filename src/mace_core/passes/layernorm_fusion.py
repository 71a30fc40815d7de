"""LayerNormalization spelled out as mean / variance arithmetic, for ``pattern_fusion``.

Matches, over a block of trailing axes (``ReduceMean`` with ``keepdims=1``, axes as an
attribute or a constant input)::

    mean = ReduceMean(x)            d = x - mean
    var  = ReduceMean(d ** 2)       (Pow by 2, or d * d)
    y    = d / Sqrt(var + eps)      (or d * Reciprocal(Sqrt(var + eps)))
    y    = y * scale + bias         (each optional; constants varying along those axes only)

and rewrites it as ``LayerNormalization(x, scale, bias, axis=-k, epsilon=eps)`` (scale all
ones when absent).
"""

from __future__ import annotations

import numpy as np

from mace_core.ir import Node
from mace_core.passes.graph_edit import new_constant
from mace_core.passes.pattern_match import Matcher, near


def _axis(m: Matcher, node: Node, rank: int) -> int | None:
    """The first of the trailing axes ``node`` (a ReduceMean) reduces with kept dims, else
    None (other axes, dropped dims, or axes only known at run time)."""
    attrs = m.attrs(node)
    if not attrs.get("keepdims", 1) or rank == 0:
        return None
    if len(node.inputs) > 1 and node.inputs[1]:
        value = m.graph.constants.get(node.inputs[1])
        if value is None:
            return None
        axes = [int(a) for a in value.reshape(-1)]
    else:
        axes = [int(a) for a in attrs.get("axes") or ()]
    if not axes or any(not -rank <= a < rank for a in axes):
        return None
    norm = sorted({a % rank for a in axes})
    if len(norm) != len(axes) or norm != list(range(rank - len(norm), rank)):
        return None
    return norm[0]


def _squares(m: Matcher, node: Node, d: str) -> bool:
    """``node`` computes ``d ** 2`` (Pow by the constant 2, or Mul of d by itself)."""
    if node.domain or len(node.inputs) != 2 or node.inputs[0] != d:
        return False
    if node.op_type == "Mul":
        return node.inputs[1] == d
    if node.op_type == "Pow":
        exponent = m.graph.constants.get(node.inputs[1])
        return exponent is not None and exponent.size == 1 and near(
            float(exponent.reshape(-1)[0]), 2.0)
    return False


def _param(m: Matcher, node: Node, data: str, axis: int, x_shape: tuple[int, ...],
           dtype: np.dtype) -> np.ndarray | None:
    """The constant that ``node`` combines with ``data``, shaped to the normalized axes, when
    it varies along those axes only; else None."""
    other = m.other_input(node, data)
    value = m.graph.constants.get(other) if other else None
    rank = len(x_shape)
    if value is None or value.dtype != dtype or value.ndim > rank:
        return None
    full = value.reshape((1,) * (rank - value.ndim) + value.shape)
    trailing = full.shape[axis:]
    if any(d != 1 for d in full.shape[:axis]) or any(
            t not in (1, n) for t, n in zip(trailing, x_shape[axis:], strict=True)):
        return None
    return full.reshape(trailing)


def match_layernorm(m: Matcher, mean: Node) -> bool:
    """Rewrite the LayerNormalization whose first ReduceMean is ``mean``; True if done."""
    graph = m.graph
    x = mean.inputs[0]
    desc = graph.tensors.get(x)
    if desc is None or not m.has_op("LayerNormalization"):
        return False
    shape, rank = tuple(desc.shape), len(desc.shape)
    axis = _axis(m, mean, rank)
    sub = m.sole_reader(mean.outputs[0], ("Sub",))
    if axis is None or sub is None or sub.inputs != [x, mean.outputs[0]]:
        return False
    d = sub.outputs[0]
    readers = list({id(r): r for r in m.readers(d)}.values())  # d * d reads d twice
    if d in graph.outputs or len(readers) != 2:
        return False
    square = next((r for r in readers if _squares(m, r, d)), None)
    norm = next((r for r in readers if r is not square), None)
    if square is None or norm is None:
        return False
    var = m.sole_reader(square.outputs[0], ("ReduceMean",))
    if var is None or _axis(m, var, rank) != axis:
        return False
    add = m.sole_reader(var.outputs[0], ("Add",))
    eps_name = None if add is None else m.other_input(add, var.outputs[0])
    eps = None if eps_name is None else m.scalar(eps_name)
    sqrt = None if add is None else m.sole_reader(add.outputs[0], ("Sqrt",))
    if eps is None or eps < 0 or sqrt is None:
        return False
    nodes = [mean, sub, square, var, add, sqrt]
    std = sqrt.outputs[0]
    if norm.op_type == "Div" and norm.inputs == [d, std] and not norm.domain:
        pass
    elif norm.op_type == "Mul" and not norm.domain:
        recip = m.sole_reader(std, ("Reciprocal",))
        if recip is None or m.other_input(norm, d) != recip.outputs[0]:
            return False
        nodes.append(recip)
    else:
        return False
    nodes.append(norm)
    final, scale, bias = norm, None, None
    after = m.sole_reader(final.outputs[0], ("Mul",))
    if after is not None:
        scale = _param(m, after, final.outputs[0], axis, shape, desc.dtype.numpy)
        if scale is not None:
            nodes.append(after)
            final = after
    after = m.sole_reader(final.outputs[0], ("Add",))
    if after is not None:
        bias = _param(m, after, final.outputs[0], axis, shape, desc.dtype.numpy)
        if bias is not None:
            nodes.append(after)
            final = after
    if not m.private(nodes, final) or not m.same_float_shape(x, final.outputs[0]):
        return False
    if scale is None:
        scale = np.ones(shape[axis:], desc.dtype.numpy)
    inputs = [x, new_constant(graph, f"{final.name}_scale", scale)]
    if bias is not None:
        inputs.append(new_constant(graph, f"{final.name}_bias", bias))
    m.replace(nodes, final, "LayerNormalization", inputs,
              {"axis": axis - rank, "epsilon": eps})
    return True
