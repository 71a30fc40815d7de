"""Checking a memory plan: no two tensors live at the same step share a byte."""

from __future__ import annotations

from mace_core.errors import MaceError
from mace_core.memory.plan import Allocation, MemoryPlan


class InvalidPlanError(MaceError, AssertionError):
    """A memory plan lets two live tensors share bytes, or places a tensor outside the arena."""


def _root(alloc: Allocation) -> str:
    return alloc.alias_of or alloc.tensor


def verify_plan(plan: MemoryPlan, *, alignment: int | None = None) -> None:
    """Raise :class:`InvalidPlanError` unless ``plan`` is consistent.

    Checked: every allocation lies inside ``[0, arena_size)`` (and starts at a multiple of
    ``alignment`` when given); an alias lies inside its root's bytes and lifetime; and no
    two allocations of different roots that are live at a common step share a byte.
    """
    allocs = list(plan.allocations.values())
    for a in allocs:
        if a.offset < 0 or a.size < 0 or a.offset + a.size > plan.arena_size:
            raise InvalidPlanError(
                f"{a.tensor!r} at bytes [{a.offset}, {a.offset + a.size}) lies outside the "
                f"arena of {plan.arena_size} bytes"
            )
        if alignment and a.offset % alignment:
            raise InvalidPlanError(f"{a.tensor!r} at offset {a.offset} is not {alignment}-aligned")
        if a.first > a.last:
            raise InvalidPlanError(f"{a.tensor!r} has an empty lifetime [{a.first}, {a.last}]")
        if a.alias_of is not None:
            _check_alias(plan, a)
    allocs.sort(key=lambda a: a.first)
    for i, a in enumerate(allocs):
        for b in allocs[i + 1 :]:
            if b.first > a.last:
                break
            if _root(a) == _root(b) or a.size == 0 or b.size == 0:
                continue
            if a.offset < b.offset + b.size and b.offset < a.offset + a.size:
                step = max(a.first, b.first)
                raise InvalidPlanError(
                    f"{a.tensor!r} [{a.offset}, {a.offset + a.size}) and {b.tensor!r} "
                    f"[{b.offset}, {b.offset + b.size}) share bytes while both live at step "
                    f"{step}"
                )


def _check_alias(plan: MemoryPlan, a: Allocation) -> None:
    root = plan.allocations.get(a.alias_of or "")
    if root is None or root.alias_of is not None:
        raise InvalidPlanError(
            f"{a.tensor!r} is an alias of {a.alias_of!r}, which has no allocation of its own"
        )
    if not (root.offset <= a.offset and a.offset + a.size <= root.offset + root.size):
        raise InvalidPlanError(f"alias {a.tensor!r} lies outside the bytes of {root.tensor!r}")
    if not (root.first <= a.first and a.last <= root.last):
        raise InvalidPlanError(
            f"alias {a.tensor!r} (steps {a.first}-{a.last}) outlives its root {root.tensor!r} "
            f"(steps {root.first}-{root.last})"
        )
