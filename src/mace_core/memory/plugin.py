"""Registers the default memory planner (greedy by size, for every device)."""

from __future__ import annotations

from mace_core._hookspecs import hookimpl
from mace_core.memory.planner import plan_memory


@hookimpl(trylast=True)
def mace_plan_memory(graph, order, device):
    """The core default: runs after every other implementation, so a device plugin with
    its own planner (e.g. OpenCL images) answers first for its device."""
    return plan_memory(graph, order, device)
