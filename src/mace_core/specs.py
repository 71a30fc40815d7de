"""What plugins register: devices, kernels, passes and converters (op schemas: ``schema.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import numpy as np

from mace_core.dtypes import DType
from mace_core.ir import Graph, Layout, Node

if TYPE_CHECKING:
    from mace_core.registry import Registry


@attrs.frozen
class Capabilities:
    """What a device probed present offers. ``details`` is shown by ``mace devices``."""

    name: str
    kind: str  # "reference", "cpu", "gpu", "dsp"
    description: str
    preferred_layout: Layout = Layout.NCHW
    details: Mapping[str, Any] = attrs.field(factory=dict)


class Device(Protocol):
    """A place where kernels run. ``probe`` raises ``DeviceUnavailable`` with the reason.

    Optional methods, used when present:
      ``to_host(value) -> np.ndarray``  bring a device-resident value (one a kernel of this
                                       device returned) to host memory for another device;
      ``synchronize()``                wait for queued work, so profiled times are real;
      ``fuse(run: FusedRun) -> runner | None``  run a partition's ops as one unit (e.g. one
                                       native call over a prebuilt step list) instead of one
                                       Python call per op; None: the session runs them op
                                       by op. A runner with ``timed(values) -> (outputs,
                                       ms)`` (one time per node, in order) is profiled as
                                       it runs; without, profiled runs go op by op.
    """

    name: str

    def probe(self) -> Capabilities: ...


# A reference-style kernel: ``fn(*inputs, **attrs)`` returns an array or a tuple of arrays.
KernelFn = Callable[..., Any]
# A prepared kernel: called once per session with (node, attrs, graph, session options);
# returns a callable taking the input arrays (list) and returning the output arrays (list).
PrepareFn = Callable[
    [Node, dict[str, Any], Graph, dict[str, Any]],
    Callable[[Sequence[np.ndarray]], Sequence[Any]],
]
Predicate = Callable[[Node, Graph], bool]


@attrs.frozen
class FusedRun:
    """A partition (consecutive steps on one device) the session offers to ``Device.fuse``.

    The returned runner takes the values of ``inputs`` (in order) and returns the values of
    ``outputs`` (in order), computing what the ``runners`` would in sequence.
    """

    nodes: tuple[Node, ...]
    runners: tuple[Callable[[Sequence[Any]], Sequence[Any]], ...]  # the nodes' prepared ones
    inputs: tuple[str, ...]  # tensors read from outside the partition (constants excluded)
    outputs: tuple[str, ...]  # tensors produced here and read later, or graph outputs
    graph: Graph
    options: dict[str, Any]  # the session options the runners were prepared with


@attrs.frozen
class KernelSpec:
    """One implementation of one op on one device.

    Give ``fn`` (stateless, reference style) or ``prepare`` (precomputes, e.g. packs
    weights). ``when`` says whether the kernel applies to a given node (shapes, attributes,
    dtypes); placement picks, per device, the accepting kernel of highest ``priority``.
    """

    op_type: str
    device: str
    fn: KernelFn | None = None
    prepare: PrepareFn | None = None
    when: Predicate | None = None
    priority: int = 0
    domain: str = ""
    name: str = ""

    def __attrs_post_init__(self) -> None:
        if (self.fn is None) == (self.prepare is None):
            raise ValueError(f"kernel for {self.op_type} on {self.device}: give fn or prepare")

    @property
    def key(self) -> tuple[str, str]:
        return (self.domain, self.op_type)

    def accepts(self, node: Node, graph: Graph) -> bool:
        return self.when is None or bool(self.when(node, graph))

    @property
    def label(self) -> str:
        return self.name or f"{self.device}:{self.op_type}"


@attrs.define
class PassContext:
    """What a graph pass may consult."""

    registry: Registry
    devices: Sequence[str] = ()
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PassSpec:
    """A graph rewrite. Passes run in ascending ``order``; ``fn`` edits the graph in place
    and returns True when it changed something."""

    name: str
    fn: Callable[[Graph, PassContext], bool]
    order: int = 100
    description: str = ""
    default: bool = True


@attrs.define
class ConvertOptions:
    """Options every frontend understands.

    ``input_values`` freezes inputs: each named input becomes a constant of that value (cast
    to the input's dtype, see ``mace_core.frozen_inputs``) and the converted model no longer
    takes it.
    """

    input_shapes: dict[str, tuple[int, ...]] = attrs.field(factory=dict)
    input_dtypes: dict[str, DType] = attrs.field(factory=dict)
    model_name: str | None = None
    input_values: dict[str, np.ndarray] = attrs.field(factory=dict)


@attrs.frozen
class ConverterSpec:
    """A frontend for one source format.

    ``sniff(path)`` recognises a file; ``convert(path, options, registry)`` returns a Graph;
    ``run_source(path, feeds)`` runs the model in its own framework (for ``mace validate``).
    ``requires`` names what to install when the frontend's dependencies are missing.
    """

    format: str
    suffixes: tuple[str, ...]
    convert: Callable[[Path, ConvertOptions, Registry], Graph]
    sniff: Callable[[Path], bool] | None = None
    run_source: Callable[[Path, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    requires: str = ""
