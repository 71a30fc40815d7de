"""The ``pattern_fusion`` pass: activations and norms that exporters spell out as several ops.

Rewrites, each into one node reading ``x``:

* ``HardSwish``: ``x * Clip(x + 3, 0, 6) / 6`` with the scaling as ``Div`` by 6 or ``Mul`` by
  1/6, applied to the product, to the Clip or to ``x``; Clip bounds as attributes or constant
  inputs (Relu6). Also ``x * HardSigmoid(x)`` with ``alpha = 1/6``, ``beta = 0.5``.
* ``Swish`` (SiLU): ``x * Sigmoid(x)`` (``alpha = 1``) and ``x * Sigmoid(beta * x)``
  (``alpha = beta``).
* ``Gelu``: ``0.5 * x * (1 + Erf(x / sqrt(2)))`` with the 1/2 on ``x``, on the sum or on the
  product, and ``/ sqrt(2)`` as ``Mul`` by ``1/sqrt(2)`` too.
* ``LayerNormalization``: see :mod:`mace_core.passes.layernorm_fusion`.

A match needs every intermediate tensor to be read inside the pattern alone and not be a
graph output, its constants to match within a relative 1e-6, and the result to have the shape
and float dtype of ``x``. The pass runs before ``activation_fusion``, so a Conv followed by a
spelled-out HardSwish or SiLU ends up as one Conv with a fused activation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from mace_core.ir import Graph, Node
from mace_core.passes.activation_fusion import activation_of
from mace_core.passes.layernorm_fusion import match_layernorm
from mace_core.passes.pattern_match import Matcher, near
from mace_core.specs import PassContext

SIXTH = 1.0 / 6.0
INV_SQRT2 = 1.0 / math.sqrt(2.0)


def _fuse(m: Matcher, nodes: list[Node], final: Node, x: str, op_type: str,
          attrs: dict | None = None) -> bool:
    """Replace ``nodes`` by ``op_type(x)`` when the pattern is private and keeps x's shape."""
    if (not m.has_op(op_type) or not m.private(nodes, final)
            or not m.same_float_shape(x, final.outputs[0])):
        return False
    m.replace(nodes, final, op_type, [x], attrs)
    return True


# -- HardSwish ------------------------------------------------------------------------------
def _is_relu6(m: Matcher, clip: Node) -> bool:
    act = activation_of(m.graph, clip, m.ctx)
    return act is not None and act[1][0] == 0.0 and near(act[1][1], 6.0)


def _hard_swish_from_clip(m: Matcher, clip: Node) -> bool:
    """``x * Clip(x + 3, 0, 6) / 6`` around ``clip``."""
    add = m.produced_by(clip.inputs[0], "Add")
    x = None if add is None else m.operand_with(add, 3.0)
    if x is None or not _is_relu6(m, clip):
        return False
    relu6 = clip.outputs[0]
    after = m.sole_reader(relu6, ("Mul", "Div"))
    if after is None:
        return False
    scaled = m.scaling(after)
    if scaled is not None and scaled[0] == relu6:
        # (Clip / 6) * x
        if not near(scaled[1], SIXTH):
            return False
        mul = m.sole_reader(after.outputs[0], ("Mul",))
        if mul is None or m.other_input(mul, after.outputs[0]) != x:
            return False
        return _fuse(m, [add, clip, after, mul], mul, x, "HardSwish")
    if after.op_type != "Mul":
        return False
    other = m.other_input(after, relu6)
    if other == x:
        # (x * Clip) / 6
        last = m.sole_reader(after.outputs[0], ("Mul", "Div"))
        scaled = m.scaling(last)
        if last is None or scaled is None or scaled[0] != after.outputs[0]:
            return False
        if not near(scaled[1], SIXTH):
            return False
        return _fuse(m, [add, clip, after, last], last, x, "HardSwish")
    # (x / 6) * Clip
    pre = None if other is None else m.producers.get(other)
    scaled = m.scaling(pre)
    if pre is None or scaled is None or scaled[0] != x or not near(scaled[1], SIXTH):
        return False
    return _fuse(m, [add, clip, pre, after], after, x, "HardSwish")


def _hard_swish_from_hard_sigmoid(m: Matcher, hsig: Node) -> bool:
    """``x * HardSigmoid(x)`` with alpha 1/6, beta 1/2."""
    attrs = m.attrs(hsig)
    if not (near(float(attrs["alpha"]), SIXTH) and near(float(attrs["beta"]), 0.5)):
        return False
    x = hsig.inputs[0]
    mul = m.sole_reader(hsig.outputs[0], ("Mul",))
    if mul is None or m.other_input(mul, hsig.outputs[0]) != x:
        return False
    return _fuse(m, [hsig, mul], mul, x, "HardSwish")


# -- Swish ----------------------------------------------------------------------------------
def _swish(m: Matcher, sig: Node) -> bool:
    """``x * Sigmoid(x)`` or ``x * Sigmoid(beta * x)``."""
    s_in = sig.inputs[0]
    mul = m.sole_reader(sig.outputs[0], ("Mul",))
    if mul is None:
        return False
    other = m.other_input(mul, sig.outputs[0])
    if other == s_in:
        return _fuse(m, [sig, mul], mul, s_in, "Swish", {"alpha": 1.0})
    pre = m.producers.get(s_in)
    scaled = m.scaling(pre)
    if pre is None or scaled is None or scaled[0] != other or not math.isfinite(scaled[1]):
        return False
    return _fuse(m, [pre, sig, mul], mul, other, "Swish", {"alpha": scaled[1]})


# -- Gelu -----------------------------------------------------------------------------------
def _gelu(m: Matcher, erf: Node) -> bool:
    """``0.5 * x * (1 + Erf(x / sqrt(2)))`` around ``erf``."""
    pre = m.producers.get(erf.inputs[0])
    scaled = m.scaling(pre)
    if pre is None or scaled is None or not near(scaled[1], INV_SQRT2):
        return False
    x = scaled[0]
    add = m.sole_reader(erf.outputs[0], ("Add",))
    if add is None or m.operand_with(add, 1.0) != erf.outputs[0]:
        return False
    t = add.outputs[0]
    mul = m.sole_reader(t, ("Mul", "Div"))
    if mul is None:
        return False
    head = [pre, erf, add, mul]
    half = m.scaling(mul)
    if half is not None and half[0] == t:
        # (0.5 * (1 + erf)) * x
        last = m.sole_reader(mul.outputs[0], ("Mul",))
        if not near(half[1], 0.5) or last is None:
            return False
        if m.other_input(last, mul.outputs[0]) != x:
            return False
        return _fuse(m, [*head, last], last, x, "Gelu")
    if mul.op_type != "Mul":
        return False
    other = m.other_input(mul, t)
    if other == x:
        # (x * (1 + erf)) * 0.5
        last = m.sole_reader(mul.outputs[0], ("Mul", "Div"))
        half = m.scaling(last)
        if last is None or half is None or half[0] != mul.outputs[0] or not near(half[1], 0.5):
            return False
        return _fuse(m, [*head, last], last, x, "Gelu")
    # (0.5 * x) * (1 + erf)
    first = None if other is None else m.producers.get(other)
    half = m.scaling(first)
    if first is None or half is None or half[0] != x or not near(half[1], 0.5):
        return False
    return _fuse(m, [*head, first], mul, x, "Gelu")


# -- the pass -------------------------------------------------------------------------------
MATCHERS: dict[str, Callable[[Matcher, Node], bool]] = {
    "Clip": _hard_swish_from_clip,
    "HardSigmoid": _hard_swish_from_hard_sigmoid,
    "Sigmoid": _swish,
    "Erf": _gelu,
    "ReduceMean": match_layernorm,
}


def fuse_patterns(graph: Graph, ctx: PassContext) -> bool:
    """The ``pattern_fusion`` pass; True when a pattern was rewritten."""
    m = Matcher(graph, ctx)
    changed = False
    for node in list(graph.nodes):
        match = MATCHERS.get(node.op_type)
        if node.domain or match is None or not node.inputs or not node.outputs:
            continue
        if id(node) in m.removed:  # taken by an earlier rewrite
            continue
        if match(m, node):
            changed = True
    return changed
