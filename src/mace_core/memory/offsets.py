"""Offset assignment: greedy by size (Pisarchyk & Lee 2020, "Efficient Memory Management
for Deep Neural Net Inference", section 4.3).

Blocks are placed largest first. A block goes into the smallest gap, among the blocks
already placed whose lifetimes overlap its own, that is large enough to hold it (best fit);
when no gap fits it goes right after the highest of them. Large blocks placed first pin
down the peak; small ones then fill the holes they leave.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

from mace_core.memory.lifetimes import Storage

# Orders in which blocks may be placed. Greedy by size is the paper's; on small graphs with
# long-lived small tensors (recurrent state, say) placing long lifetimes first can win.
ORDERS: dict[str, Callable[[Storage], tuple]] = {
    "greedy-by-size": lambda s: (-s.size, s.first, s.root),
    # equal sizes: the longest-lived first, so short blocks fill around it
    "greedy-by-size-long-first": lambda s: (-s.size, s.first - s.last, s.first, s.root),
    "greedy-by-lifetime": lambda s: (-(s.last - s.first), -s.size, s.first, s.root),
    "greedy-by-area": lambda s: (-s.size * (s.last - s.first + 1), s.first, s.root),
}


def best_offsets(storages: Iterable[Storage]) -> tuple[dict[str, int], int, str]:
    """Place the blocks in each of ``ORDERS``; keep the smallest arena (ties: first order)."""
    storages = list(storages)
    best: tuple[dict[str, int], int, str] | None = None
    for name, key in ORDERS.items():
        offsets, arena = greedy_by_size(storages, key)
        if best is None or arena < best[1]:
            best = (offsets, arena, name)
    assert best is not None
    return best


def greedy_by_size(storages: Iterable[Storage], key: Callable[[Storage], tuple] = ORDERS[
        "greedy-by-size"]) -> tuple[dict[str, int], int]:
    """Offsets (by root name) for ``storages`` and the arena size ``max(offset + size)``.

    Blocks are placed in the order of ``key`` (default: size descending; ties broken by
    first step, then name, so the result is deterministic).
    """
    pending = sorted(storages, key=key)
    placed: list[tuple[int, Storage]] = []  # (offset, storage), kept sorted by offset
    offsets: dict[str, int] = {}
    arena = 0
    for block in pending:
        offset = _best_fit(block, placed)
        offsets[block.root] = offset
        arena = max(arena, offset + block.size)
        bisect.insort(placed, (offset, block), key=lambda item: item[0])
    return offsets, arena


def _best_fit(block: Storage, placed: list[tuple[int, Storage]]) -> int:
    """Lowest-waste gap for ``block`` among placed blocks live at the same time."""
    end_so_far = 0
    best: int | None = None
    best_gap = 0
    for offset, other in placed:
        if not block.overlaps(other):
            continue
        gap = offset - end_so_far
        if gap >= block.size and (best is None or gap < best_gap):
            best, best_gap = end_so_far, gap
        end_so_far = max(end_so_far, offset + other.size)
    return end_so_far if best is None else best

