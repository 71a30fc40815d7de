"""Figures to judge a memory plan by: the lower bound, no reuse, and whole-buffer coloring."""

from __future__ import annotations

from mace_core.memory.lifetimes import Lifetimes


def live_bytes(lifetimes: Lifetimes) -> list[int]:
    """Total size of the storage blocks live at each step."""
    deltas = [0] * (lifetimes.num_steps + 1)
    for storage in lifetimes.storages.values():
        deltas[storage.first] += storage.size
        deltas[storage.last + 1] -= storage.size
    totals: list[int] = []
    running = 0
    for delta in deltas[:-1]:
        running += delta
        totals.append(running)
    return totals


def lower_bound(lifetimes: Lifetimes) -> int:
    """The largest total size of storage blocks live at one step.

    No offset plan over the same blocks can use less; the in-place and view decisions are
    already applied, so an alias and its root count once.
    """
    return max(live_bytes(lifetimes), default=0)


def no_reuse(lifetimes: Lifetimes) -> int:
    """Every planned tensor in its own buffer: no reuse, no views, no in-place."""
    return sum(t.size for t in lifetimes.tensors.values())


def coloring(lifetimes: Lifetimes) -> int:
    """Total size of whole buffers under MACE-style reuse (buffers are never split).

    Execution is simulated in order. A buffer is free once the last reader of the block in
    it has run. A block produced at a step takes the free buffer that wastes least among
    those large enough; failing that, the free buffer it overshoots least, grown to fit;
    failing that, a new buffer. The result is the sum of the buffer sizes.
    """
    buffers: list[int] = []  # sizes
    busy_until: list[int] = []  # last step of the block in each buffer (-1 when never used)
    blocks = sorted(lifetimes.storages.values(), key=lambda s: s.first)  # stable: production
    for block in blocks:
        free = [i for i, until in enumerate(busy_until) if until < block.first]
        fitting = [i for i in free if buffers[i] >= block.size]
        short = [i for i in free if buffers[i] < block.size]
        if fitting:
            chosen = min(fitting, key=lambda i: (buffers[i] - block.size, i))
        elif short:
            chosen = min(short, key=lambda i: (block.size - buffers[i], i))
            buffers[chosen] = block.size
        else:
            chosen = len(buffers)
            buffers.append(block.size)
            busy_until.append(-1)
        busy_until[chosen] = block.last
    return sum(buffers)
