"""Op schemas: what an op accepts and how its output shapes and dtypes follow from inputs.

A schema is registered by a plugin through ``mace_register_ops``. Shape inference gets an
:class:`InferContext` and returns one ``(shape, dtype)`` per output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from mace_core.dtypes import DType
from mace_core.errors import ValidationError
from mace_core.ir import Node, Shape, TensorDesc

OutputSpec = tuple[Shape, DType]


@attrs.define
class InferContext:
    """Inputs of one node as seen by shape inference.

    ``values[i]`` is the constant value of input ``i`` when it is known at conversion time
    (an initializer or a folded constant), else None. Missing optional inputs have
    ``descs[i] is None``.
    """

    node: Node
    descs: list[TensorDesc | None]
    values: list[np.ndarray | None]
    attrs: dict[str, Any]

    def shape(self, i: int) -> Shape:
        return self.input(i).shape

    def dtype(self, i: int) -> DType:
        return self.input(i).dtype

    def has_input(self, i: int) -> bool:
        return i < len(self.descs) and self.descs[i] is not None

    def input(self, i: int) -> TensorDesc:
        if not self.has_input(i):
            raise ValidationError(f"{self.node}: input {i} is required but missing")
        return self.descs[i]  # type: ignore[return-value]

    def value(self, i: int, what: str) -> np.ndarray:
        """The constant value of input ``i``; a clear error when it is only known at run time."""
        if i < len(self.values) and self.values[i] is not None:
            return self.values[i]  # type: ignore[return-value]
        raise ValidationError(
            f"{self.node}: input {i} ({what}) must be known at conversion time, but it is "
            "computed at run time; give static input shapes (--input-shape) so it can be folded"
        )

    def fail(self, message: str) -> ValidationError:
        return ValidationError(f"{self.node}: {message}")


InferFn = Callable[[InferContext], Sequence[OutputSpec]]


@attrs.define
class OpSchema:
    """The contract of an op.

    ``attrs`` maps each attribute name to its default (``REQUIRED`` when it has none).
    ``num_inputs`` is ``(min, max)``; ``max`` None means variadic.
    """

    op_type: str
    infer: InferFn
    num_inputs: tuple[int, int | None] = (1, 1)
    num_outputs: tuple[int, int | None] = (1, 1)
    attrs: dict[str, Any] = attrs.field(factory=dict)
    domain: str = ""
    doc: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.domain, self.op_type)

    def resolve_attrs(self, node: Node) -> dict[str, Any]:
        """The node's attributes with defaults filled in; unknown or missing ones raise."""
        unknown = sorted(set(node.attrs) - set(self.attrs))
        if unknown:
            raise ValidationError(
                f"{node}: unknown attribute(s) {', '.join(unknown)}; "
                f"{self.op_type} accepts: {', '.join(sorted(self.attrs)) or 'none'}"
            )
        resolved = {}
        for name, default in self.attrs.items():
            if name in node.attrs:
                resolved[name] = node.attrs[name]
            elif default is REQUIRED:
                raise ValidationError(f"{node}: required attribute {name!r} is missing")
            else:
                resolved[name] = default
        return resolved

    def check_arity(self, node: Node) -> None:
        n_in = len(node.inputs)
        lo, hi = self.num_inputs
        if n_in < lo or (hi is not None and n_in > hi):
            expected = f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else 'N'}"
            raise ValidationError(f"{node}: takes {expected} inputs, got {n_in}")
        for i in range(lo):
            if not node.inputs[i]:
                raise ValidationError(f"{node}: input {i} is required but missing")
        n_out = len(node.outputs)
        lo, hi = self.num_outputs
        if n_out < lo or (hi is not None and n_out > hi):
            raise ValidationError(f"{node}: produces {lo}..{hi} outputs, got {n_out}")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


# -- common inference helpers --------------------------------------------------------
def same_as_input(index: int = 0) -> InferFn:
    """Output 0 has the shape and dtype of input ``index``."""

    def infer(ctx: InferContext) -> list[OutputSpec]:
        return [(ctx.shape(index), ctx.dtype(index))]

    return infer


def broadcast_shapes(ctx: InferContext, shapes: Sequence[Shape]) -> Shape:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError:
        raise ctx.fail(
            "inputs cannot be broadcast together: " + " and ".join(str(list(s)) for s in shapes)
        ) from None


def broadcast(dtype_from: int | DType = 0) -> InferFn:
    """Numpy broadcasting of all present inputs; dtype from an input index or fixed."""

    def infer(ctx: InferContext) -> list[OutputSpec]:
        shapes = [d.shape for d in ctx.descs if d is not None]
        dtype = dtype_from if isinstance(dtype_from, DType) else ctx.dtype(dtype_from)
        return [(broadcast_shapes(ctx, shapes), dtype)]

    return infer


def normalize_axis(ctx: InferContext, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is out of range for a rank-{rank} input")
    return axis % rank
