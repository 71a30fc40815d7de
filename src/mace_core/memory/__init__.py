"""Memory planning: tensor lifetimes, arena offsets, and the figures to judge a plan by."""

from mace_core.memory.lifetimes import (
    ALIGNMENT,
    IN_PLACE_OPS,
    VIEW_OPS,
    Lifetimes,
    Storage,
    TensorLifetime,
    compute_lifetimes,
)
from mace_core.memory.plan import Allocation, MemoryPlan
from mace_core.memory.planner import plan_memory
from mace_core.memory.verify import InvalidPlanError, verify_plan

__all__ = [
    "ALIGNMENT",
    "IN_PLACE_OPS",
    "VIEW_OPS",
    "Allocation",
    "InvalidPlanError",
    "Lifetimes",
    "MemoryPlan",
    "Storage",
    "TensorLifetime",
    "compute_lifetimes",
    "plan_memory",
    "verify_plan",
]
