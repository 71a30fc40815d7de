"""The result of memory planning (produced by the ``mace_plan_memory`` hook)."""

from __future__ import annotations

import attrs


@attrs.frozen
class Allocation:
    """Where one intermediate tensor lives: bytes ``[offset, offset + size)`` of the arena,
    live from step ``first`` (its producer) through step ``last`` (its last reader)."""

    tensor: str
    offset: int
    size: int
    first: int
    last: int
    alias_of: str | None = None  # shares the storage of this tensor (in-place)


@attrs.frozen
class MemoryPlan:
    """An arena plan with the numbers to judge it by (all in bytes).

    ``lower_bound``: the largest total size of tensors live at one step (no plan can do
    better without in-place reuse); ``arena_size``: our planned peak; ``no_reuse``: every
    tensor in its own buffer; ``coloring``: MACE-style whole-buffer reuse, for comparison.
    """

    device: str
    allocations: dict[str, Allocation]
    arena_size: int
    lower_bound: int
    no_reuse: int
    coloring: int
    algorithm: str = "greedy-by-size"
