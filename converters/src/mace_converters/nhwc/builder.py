"""Building an NCHW mace-core graph from a channels-last (NHWC) source graph.

TensorFlow and TFLite graphs keep 4-D activations NHWC; mace-core graphs have ONNX
semantics (NCHW). The :class:`LayoutBuilder` tracks, for each source tensor, the mace tensor
that holds it and the permutation relating the two: ``mace = source.transpose(perm)``.
Ops that need NCHW (Conv, pooling, Resize...) ask for their input with the channels-first
permutation; layout-agnostic ops (elementwise, activations) keep whatever permutation their
input has; axis ops (Concat, Reduce, Pad, Slice...) remap their axes; the rest ask for the
source layout. A ``Transpose`` is inserted only where a tensor is needed in a permutation it
does not have yet (once per tensor and permutation), and a source ``Transpose`` becomes a
relabelling, so a typical NHWC CNN gets a single Transpose after its input.

Graph inputs and outputs keep the source names, shapes and layout (users feed the arrays
they would feed the source framework).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from mace_core.dtypes import DType
from mace_core.errors import ConversionError
from mace_core.ir import Graph, Node, QuantParams, TensorDesc

Perm = tuple[int, ...]


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def channels_first(rank: int) -> Perm:
    """The permutation taking a channels-last tensor to channels-first (NHWC -> NCHW)."""
    return (0, rank - 1, *range(1, rank - 1)) if rank >= 3 else identity(rank)


def inverse(perm: Sequence[int]) -> Perm:
    inv = [0] * len(perm)
    for j, p in enumerate(perm):
        inv[p] = j
    return tuple(inv)


def compose(have: Perm, want: Perm) -> Perm:
    """The Transpose perm taking ``source.transpose(have)`` to ``source.transpose(want)``."""
    inv = inverse(have)
    return tuple(inv[w] for w in want)


def drop_axes(perm: Perm, removed: Sequence[int]) -> Perm:
    """The perm left when the source axes ``removed`` disappear (reduce, squeeze)."""
    kept = [p for p in perm if p not in set(removed)]
    order = sorted(kept)
    return tuple(order.index(p) for p in kept)


def permute_quant(quant: QuantParams | None, perm: Sequence[int] | None
                  ) -> QuantParams | None:
    """The quantization of ``source.transpose(perm)``: a per-axis axis follows its axis."""
    if quant is None or quant.axis is None or perm is None:
        return quant
    return attrs.evolve(quant, axis=tuple(perm).index(quant.axis))


@attrs.define
class Value:
    """How one source tensor is held: mace tensor ``name`` = source.transpose(``perm``).

    ``const`` is the source-layout value of a constant (None for run-time tensors);
    ``quant`` the source-layout quantization of a constant made from quantized weights.
    """

    name: str
    perm: Perm
    dtype: DType | None = None
    const: np.ndarray | None = None
    quant: QuantParams | None = None

    @property
    def rank(self) -> int:
        return len(self.perm)


class LayoutBuilder:
    """Accumulates nodes and constants of one converted graph (see the module docstring)."""

    def __init__(self, name: str, outputs: Sequence[str]) -> None:
        self.graph = Graph(name=name)
        self.values: dict[str, Value] = {}
        self._views: dict[tuple[str, Perm], str] = {}
        self._taken: set[str] = set()
        self._reserved = set(outputs)
        self._outputs = list(outputs)

    # -- names ---------------------------------------------------------------------
    def fresh(self, base: str, key: str | None = None) -> str:
        """A tensor or node name not used yet; graph output names stay reserved for
        the identity-layout view of their own source tensor (``key``)."""
        base = base or "t"
        name, i = base, 0
        while name in self._taken or (name in self._reserved and name != key):
            i += 1
            name = f"{base}_{i}"
        self._taken.add(name)
        return name

    # -- sources -------------------------------------------------------------------
    def add_input(self, key: str, shape: Sequence[int], dtype: DType,
                  quant: QuantParams | None = None, name: str | None = None) -> None:
        """A graph input, named ``name`` (default: its key)."""
        name = self.fresh(name or key, key)
        self.graph.inputs.append(name)
        self.graph.tensors[name] = TensorDesc(name, dtype, tuple(int(d) for d in shape),
                                              quant=quant)
        self.values[key] = Value(name, identity(len(shape)), dtype)
        self._views[(key, identity(len(shape)))] = name

    def add_constant(self, key: str, array: np.ndarray, quant: QuantParams | None = None
                     ) -> Value:
        array = np.asarray(array)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        name = self.fresh(key, key)
        self.graph.add_constant(name, array)
        if quant is not None:
            self.graph.tensors[name] = attrs.evolve(self.graph.tensors[name], quant=quant)
        value = Value(name, identity(array.ndim), DType.from_numpy(array.dtype), array, quant)
        self.values[key] = value
        self._views[(key, value.perm)] = name
        return value

    def const_input(self, array: np.ndarray, base: str) -> str:
        """A constant made up by the converter (shapes, axes, bounds): its mace name."""
        name = self.fresh(base)
        self.graph.add_constant(name, np.asarray(array))
        return name

    # -- queries -------------------------------------------------------------------
    def value(self, key: str) -> Value:
        try:
            return self.values[key]
        except KeyError:
            raise ConversionError(f"tensor {key!r} is read before it is produced") from None

    def is_const(self, key: str) -> bool:
        return self.value(key).const is not None

    def const(self, key: str, what: str) -> np.ndarray:
        value = self.value(key).const
        if value is None:
            raise ConversionError(
                f"{what} ({key!r}) must be a constant of the model, but it is computed at run "
                "time; this converter needs it known at conversion time"
            )
        return value

    def rank(self, key: str) -> int:
        return self.value(key).rank

    def perm(self, key: str) -> Perm:
        return self.value(key).perm

    def views(self, key: str) -> list[tuple[Perm, str]]:
        """Every mace tensor made so far holding source ``key``, with its permutation."""
        return [(perm, name) for (k, perm), name in self._views.items() if k == key]

    # -- views -----------------------------------------------------------------------
    def get(self, key: str, perm: Sequence[int] | None = None) -> str:
        """The mace tensor holding source ``key`` as ``source.transpose(perm)`` (identity
        when None); a Transpose (or a permuted constant) is made once when needed."""
        value = self.value(key)
        want = identity(value.rank) if perm is None else tuple(perm)
        if len(want) != value.rank:
            raise ConversionError(f"tensor {key!r} has rank {value.rank}, not {len(want)}")
        if (key, want) in self._views:
            return self._views[(key, want)]
        if value.const is not None:
            name = self.const_input(np.transpose(value.const, want), f"{key}_perm")
            quant = permute_quant(value.quant, want)
            if quant is not None:
                desc = self.graph.tensors[name]
                self.graph.tensors[name] = attrs.evolve(desc, quant=quant)
        else:
            name = self.fresh(key if want == identity(value.rank) else f"{key}_t",
                              key if want == identity(value.rank) else None)
            self.emit("Transpose", [value.name], [name],
                      {"perm": list(compose(value.perm, want))})
        self._views[(key, want)] = name
        return name

    # -- nodes -----------------------------------------------------------------------
    def emit(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str],
             attrs_: dict[str, Any] | None = None) -> Node:
        node = Node(self.fresh(f"{outputs[0]}_{op_type}"), op_type, list(inputs),
                    list(outputs), dict(attrs_ or {}))
        self.graph.nodes.append(node)
        return node

    def temp(self, op_type: str, inputs: Sequence[str], attrs_: dict[str, Any] | None = None,
             base: str = "t") -> str:
        """Emit a node with one intermediate output; returns the output's mace name."""
        name = self.fresh(base)
        self.emit(op_type, inputs, [name], attrs_)
        return name

    def out_name(self, key: str, perm: Perm) -> str:
        """A mace name for source tensor ``key`` produced in ``perm``."""
        if perm == identity(len(perm)):
            return self.fresh(key, key)
        return self.fresh(f"{key}_nchw" if perm == channels_first(len(perm)) else f"{key}_p")

    def produce(self, op_type: str, inputs: Sequence[str], key: str, perm: Perm,
                attrs_: dict[str, Any] | None = None, dtype: DType | None = None) -> str:
        """Emit a node producing source tensor ``key`` held in ``perm``."""
        name = self.out_name(key, perm)
        self.emit(op_type, inputs, [name], attrs_)
        self.bind(key, name, perm, dtype)
        return name

    def produce_many(self, op_type: str, inputs: Sequence[str], keys: Sequence[str],
                     perms: Sequence[Perm], attrs_: dict[str, Any] | None = None) -> None:
        names = [self.out_name(k, p) for k, p in zip(keys, perms, strict=True)]
        self.emit(op_type, inputs, names, attrs_)
        for key, name, perm in zip(keys, names, perms, strict=True):
            self.bind(key, name, perm)

    def bind(self, key: str, name: str, perm: Perm, dtype: DType | None = None) -> None:
        """Record that mace tensor ``name`` holds ``key`` as ``source.transpose(perm)``."""
        self.values[key] = Value(name, tuple(perm), dtype)
        self._views[(key, tuple(perm))] = name

    def alias(self, key: str, source: str, perm: Perm | None = None) -> None:
        """``key`` is ``source`` (Identity), or ``source.transpose(perm)`` (a relabelling)."""
        value = self.value(source)
        if value.const is not None:
            array = value.const if perm is None else np.transpose(value.const, perm)
            self.add_constant(key, array, permute_quant(value.quant, perm))
            return
        new_perm = value.perm if perm is None else compose(tuple(perm), value.perm)
        self.bind(key, value.name, new_perm, value.dtype)

    # -- the end ---------------------------------------------------------------------
    def finish(self) -> Graph:
        """Bring every graph output to the source layout under its source name."""
        for key in self._outputs:
            name = self.get(key)
            if name != key:
                if key in self._taken:
                    raise ConversionError(f"graph output name {key!r} is taken twice")
                self._taken.add(key)
                self.emit("Identity", [name], [key])
        self.graph.outputs = list(self._outputs)
        self.graph.remove_unused_tensors()
        return self.graph
