"""Offset assignment: greedy by size (Pisarchyk & Lee 2020, "Efficient Memory Management
for Deep Neural Net Inference", section 4.3).

Blocks are placed largest first. A block goes into the smallest gap, among the blocks
already placed whose lifetimes overlap its own, that is large enough to hold it (best fit);
when no gap fits it goes right after the highest of them. Large blocks placed first pin
down the peak; small ones then fill the holes they leave.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from mace_core.memory.lifetimes import Storage


def greedy_by_size(storages: Iterable[Storage]) -> tuple[dict[str, int], int]:
    """Offsets (by root name) for ``storages`` and the arena size ``max(offset + size)``.

    Ties in size are broken by first step, then name, so the result is deterministic.
    """
    pending = sorted(storages, key=lambda s: (-s.size, s.first, s.root))
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

