"""The memory table behind ``mace info --memory``: how a plan compares to its bounds."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from mace_core.ir import Graph
from mace_core.memory.planner import plan_memory

MIB = 1024 * 1024


@attrs.frozen
class MemoryRow:
    """One model's activation memory, in bytes (``*_mib`` give MiB).

    ``lower_bound``: largest live set; ``planned``: the arena of the default planner;
    ``no_reuse``: every tensor in its own buffer; ``coloring``: MACE-style whole buffers.
    """

    model: str
    tensors: int
    aliases: int
    lower_bound: int
    planned: int
    no_reuse: int
    coloring: int

    @property
    def ratio(self) -> float:
        """Planned peak over the lower bound (1.0 is optimal)."""
        return self.planned / self.lower_bound if self.lower_bound else 1.0

    def as_dict(self) -> dict[str, object]:
        """The row with sizes in MiB, for JSON output."""
        return {
            "model": self.model,
            "tensors": self.tensors,
            "aliases": self.aliases,
            "lower_bound_mib": self.lower_bound / MIB,
            "planned_mib": self.planned / MIB,
            "no_reuse_mib": self.no_reuse / MIB,
            "coloring_mib": self.coloring / MIB,
            "planned_over_lower_bound": self.ratio,
        }


def memory_row(graph: Graph) -> MemoryRow:
    """Plan ``graph`` in its stored node order and summarize the plan."""
    plan = plan_memory(graph)
    allocations = plan.allocations.values()
    return MemoryRow(
        model=graph.name,
        tensors=len(plan.allocations),
        aliases=sum(1 for a in allocations if a.alias_of is not None),
        lower_bound=plan.lower_bound,
        planned=plan.arena_size,
        no_reuse=plan.no_reuse,
        coloring=plan.coloring,
    )


def memory_table(graph: Graph | Iterable[Graph]) -> list[MemoryRow]:
    """One row per model (a single graph or several)."""
    graphs = [graph] if isinstance(graph, Graph) else list(graph)
    return [memory_row(g) for g in graphs]


def human_bytes(n: int) -> str:
    """``8384`` -> ``8.19 KiB``; MiB from 1 MiB up."""
    return f"{n / MIB:.2f} MiB" if n >= MIB else f"{n / 1024:.2f} KiB"


_HEADER = ("model", "tensors", "aliased", "lower bound", "planned peak", "no reuse",
           "coloring", "planned/lower")


def format_memory_table(rows: Iterable[MemoryRow]) -> str:
    """A plain-text table, one line per model."""
    body = [
        (
            r.model,
            str(r.tensors),
            str(r.aliases),
            human_bytes(r.lower_bound),
            human_bytes(r.planned),
            human_bytes(r.no_reuse),
            human_bytes(r.coloring),
            f"{r.ratio:.3f}",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [_HEADER, *body]) for i in range(len(_HEADER))]
    lines = []
    for line in [_HEADER, *body]:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
