"""The default memory planner: lifetimes, then greedy offsets in one arena (the best of a
few placement orders, greedy-by-size first)."""

from __future__ import annotations

from collections.abc import Sequence

from mace_core.ir import Graph, Node
from mace_core.memory import bounds
from mace_core.memory.lifetimes import ALIGNMENT, compute_lifetimes
from mace_core.memory.offsets import best_offsets
from mace_core.memory.plan import Allocation, MemoryPlan


def plan_memory(
    graph: Graph,
    order: Sequence[Node] | None = None,
    device: str = "any",
    *,
    alignment: int = ALIGNMENT,
    alias: bool = True,
) -> MemoryPlan:
    """Plan one arena for the intermediate tensors of ``graph`` run in ``order``.

    ``order`` defaults to ``graph.nodes``. A root tensor's allocation spans the lifetime
    of its whole storage block (its own and its aliases'); an alias's allocation has its
    own lifetime and ``alias_of`` naming the root. ``alias=False`` turns views and
    in-place writes off.
    """
    order = list(graph.nodes if order is None else order)
    lifetimes = compute_lifetimes(graph, order, alignment=alignment, alias=alias)
    offsets, arena, algorithm = best_offsets(lifetimes.storages.values())
    allocations: dict[str, Allocation] = {}
    for name, tensor in lifetimes.tensors.items():
        if tensor.alias_of is None:
            storage = lifetimes.storages[name]
            allocations[name] = Allocation(name, offsets[name], storage.size, storage.first,
                                           storage.last)
        else:
            allocations[name] = Allocation(name, offsets[tensor.root], tensor.size, tensor.first,
                                           tensor.last, alias_of=tensor.root)
    return MemoryPlan(
        device=device,
        allocations=allocations,
        arena_size=arena,
        lower_bound=bounds.lower_bound(lifetimes),
        no_reuse=bounds.no_reuse(lifetimes),
        coloring=bounds.coloring(lifetimes),
        algorithm=algorithm,
    )
