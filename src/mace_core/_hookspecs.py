"""The hooks a mace-core plugin can implement. Entry-point group: ``mace_core``.

Every ``mace_register_*`` hook receives a ``register`` callable; call it once per thing.
The core keeps the registry, so a plugin never imports or mutates core tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from mace_core.ir import Graph, Node
    from mace_core.memory.plan import MemoryPlan

hookspec = pluggy.HookspecMarker("mace_core")
hookimpl = pluggy.HookimplMarker("mace_core")


@hookspec
def mace_register_devices(register: Callable[[Any], None]) -> None:
    """Register device objects (``mace_core.specs.Device``).

    A device's ``probe()`` returns its ``Capabilities`` or raises ``DeviceUnavailable``
    with a reason that ``mace devices`` shows. Probing happens lazily, once per process.
    """


@hookspec
def mace_register_ops(register: Callable[[Any], None]) -> None:
    """Register op schemas (``mace_core.schema.OpSchema``): arity, attributes with
    defaults, and shape + dtype inference. A custom op uses its own ``domain``."""


@hookspec
def mace_register_kernels(register: Callable[[Any], None]) -> None:
    """Register kernels (``mace_core.specs.KernelSpec``): one op on one device, with an
    optional ``when`` predicate and a ``priority`` used by placement."""


@hookspec
def mace_register_passes(register: Callable[[Any], None]) -> None:
    """Register graph passes (``mace_core.specs.PassSpec``), run in ascending ``order``
    by ``mace convert`` after the frontend has built the graph."""


@hookspec
def mace_register_converters(register: Callable[[Any], None]) -> None:
    """Register frontends (``mace_core.specs.ConverterSpec``) by source format, with
    file suffixes and an optional content sniffer."""


@hookspec(firstresult=True)
def mace_plan_memory(graph: Graph, order: Sequence[Node], device: str) -> MemoryPlan | None:
    """Assign every intermediate tensor of ``graph`` an offset in one arena for ``device``.

    ``order`` is the execution order. The plan may let an output share its input's storage
    where that is legal (reshape-like ops, last use of an elementwise input). Return None to
    let another implementation decide; the core's default is the greedy-by-size offset
    planner in ``mace_core.memory``.
    """
