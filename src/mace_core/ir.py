"""The graph IR: tensor descriptors, nodes and graphs.

Semantics follow ONNX (NCHW for 4-D activations, numpy broadcasting); an op is named by
``(domain, op_type)`` where domain ``""`` is the standard ONNX domain. Shapes are static:
frontends resolve them at conversion time (see ``--input-shape``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import numpy as np

from mace_core.dtypes import DType
from mace_core.errors import ValidationError

Shape = tuple[int, ...]


class Layout(str, enum.Enum):
    """How a tensor's elements are laid out in memory.

    ``ANY`` means a plain row-major array with no image meaning (weights, 2-D tensors...).
    The ``IMAGE_*`` layouts are device storage layouts of the OpenCL device: channels packed
    by four into RGBA texels of a 2-D image.
    """

    ANY = "any"
    NCHW = "nchw"
    NHWC = "nhwc"
    IMAGE_NHWC4 = "image_nhwc4"  # image [W * ceil(C/4), N * H], MACE's activation layout
    IMAGE_FILTER = "image_filter"  # conv filters packed for image kernels


@attrs.frozen
class QuantParams:
    """Affine quantization: ``real = scale * (q - zero_point)``.

    Per-tensor when ``axis`` is None (scale and zero_point have one element), otherwise
    per-axis along ``axis``.
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    def __attrs_post_init__(self) -> None:
        if len(self.scale) != len(self.zero_point) or not self.scale:
            raise ValidationError(
                f"quantization params need as many scales as zero points (got "
                f"{len(self.scale)} scales, {len(self.zero_point)} zero points)"
            )
        if self.axis is None and len(self.scale) != 1:
            raise ValidationError("per-tensor quantization takes one scale; set axis for per-axis")


@attrs.frozen
class TensorDesc:
    """What is known about a tensor before it exists: name, dtype, static shape, layout."""

    name: str
    dtype: DType
    shape: Shape
    layout: Layout = Layout.ANY
    quant: QuantParams | None = None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def describe(self) -> str:
        return f"{self.dtype}{list(self.shape)}"


@attrs.define
class Node:
    """One op application. Missing optional inputs are given as ``""``."""

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = attrs.field(factory=dict)
    domain: str = ""

    @property
    def op_key(self) -> tuple[str, str]:
        return (self.domain, self.op_type)

    @property
    def qualified_op(self) -> str:
        return f"{self.domain}::{self.op_type}" if self.domain else self.op_type

    def __str__(self) -> str:
        return f"node {self.name!r} ({self.qualified_op})"


@attrs.define
class Graph:
    """A model: nodes in execution order, tensor descriptors and constant values.

    ``constants`` holds initializers (weights); they also have entries in ``tensors``.
    """

    name: str
    nodes: list[Node] = attrs.field(factory=list)
    inputs: list[str] = attrs.field(factory=list)
    outputs: list[str] = attrs.field(factory=list)
    tensors: dict[str, TensorDesc] = attrs.field(factory=dict)
    constants: dict[str, np.ndarray] = attrs.field(factory=dict)
    metadata: dict[str, str] = attrs.field(factory=dict)

    # -- queries -----------------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        """Map each produced tensor name to the node that produces it."""
        return {out: node for node in self.nodes for out in node.outputs if out}

    def consumers(self) -> dict[str, list[Node]]:
        """Map each tensor name to the nodes that read it (in execution order)."""
        result: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    result.setdefault(name, []).append(node)
        return result

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node named {name!r} in graph {self.name!r}")

    def desc(self, name: str) -> TensorDesc:
        try:
            return self.tensors[name]
        except KeyError:
            raise ValidationError(
                f"tensor {name!r} has no descriptor in graph {self.name!r}; "
                "run shape inference (mace_core.shape_inference.infer_shapes) first"
            ) from None

    def op_types(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.qualified_op] = counts.get(node.qualified_op, 0) + 1
        return dict(sorted(counts.items()))

    def iter_activations(self) -> Iterator[TensorDesc]:
        """Descriptors of every tensor that is neither a graph input nor a constant."""
        seen = set(self.inputs) | set(self.constants)
        for node in self.nodes:
            for out in node.outputs:
                if out and out not in seen and out in self.tensors:
                    seen.add(out)
                    yield self.tensors[out]

    # -- editing -----------------------------------------------------------------
    def add_constant(self, name: str, value: np.ndarray) -> str:
        value = np.asarray(value, order="C")  # keeps 0-d scalars 0-d
        self.constants[name] = value
        self.tensors[name] = TensorDesc(name, DType.from_numpy(value.dtype), tuple(value.shape))
        return name

    def unique_name(self, base: str) -> str:
        taken = set(self.tensors) | {n.name for n in self.nodes} | set(self.constants)
        if base not in taken:
            return base
        i = 1
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def rename_tensor(self, old: str, new: str) -> None:
        """Make every reader of ``old`` read ``new`` instead (graph outputs included)."""
        for node in self.nodes:
            node.inputs = [new if i == old else i for i in node.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def remove_unused_tensors(self) -> None:
        used = set(self.inputs) | set(self.outputs)
        for node in self.nodes:
            used.update(node.inputs)
            used.update(node.outputs)
        for name in list(self.tensors):
            if name not in used:
                del self.tensors[name]
        for name in list(self.constants):
            if name not in used:
                del self.constants[name]

    def toposort(self) -> None:
        """Reorder nodes so every node comes after the producers of its inputs (stable)."""
        available = set(self.inputs) | set(self.constants) | {""}
        pending = list(self.nodes)
        ordered: list[Node] = []
        while pending:
            progressed = False
            rest: list[Node] = []
            for node in pending:
                if all(i in available for i in node.inputs):
                    ordered.append(node)
                    available.update(node.outputs)
                    progressed = True
                else:
                    rest.append(node)
            if not progressed:
                missing = sorted({i for n in rest for i in n.inputs if i not in available})
                raise ValidationError(
                    f"graph {self.name!r} has a cycle or reads undefined tensors: "
                    f"{', '.join(repr(m) for m in missing[:10])} "
                    f"(read by {', '.join(str(n) for n in rest[:5])})"
                )
            pending = rest
        self.nodes = ordered

    def validate(self) -> None:
        """Check structure: unique names, every input defined before use, outputs produced."""
        defined = set(self.inputs) | set(self.constants)
        node_names: set[str] = set()
        for node in self.nodes:
            if node.name in node_names:
                raise ValidationError(
                    f"two nodes are named {node.name!r}; node names must be unique"
                )
            node_names.add(node.name)
            for index, name in enumerate(node.inputs):
                if name and name not in defined:
                    raise ValidationError(
                        f"{node}: input {index} reads tensor {name!r}, which is not a graph "
                        "input, a constant, or the output of an earlier node"
                    )
            for name in node.outputs:
                if name and name in defined:
                    raise ValidationError(f"{node}: output {name!r} is already defined elsewhere")
                defined.add(name)
        for name in self.outputs:
            if name not in defined:
                raise ValidationError(f"graph output {name!r} is never produced")


def iter_unique(names: Iterable[str]) -> list[str]:
    """Names in first-seen order without repeats or empty strings."""
    seen: dict[str, None] = {}
    for name in names:
        if name:
            seen.setdefault(name, None)
    return list(seen)
