"""mace (ours): ``mace_core.load(pb).session(devices=["cpu", "reference"], cpu_threads=T)``.

When the ``cpu`` device is missing (mace-cpu not installed or not built), every op runs on
the numpy reference device; ``info()`` says where the ops went and why.
"""

from __future__ import annotations

import numpy as np

import mace_core
from engines import model_path

FORMAT = "mace_pb"
SETTINGS = ("mace-core session, devices=[cpu, reference] (per-op fallback to the numpy "
            "reference), cpu_threads=T")


class Runner:
    def __init__(self, model: dict, threads: int) -> None:
        self.model = mace_core.load(model_path(model, FORMAT))
        self.session = self.model.session(devices=["cpu", "reference"], cpu_threads=threads)

    def prepare(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The feeds the model takes (inputs frozen at conversion are dropped)."""
        return {k: v for k, v in feeds.items() if k in self.session.graph.inputs}

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = self.session.run(feeds)
        return [out[name] for name in self.session.output_names]

    def profile(self, feeds: dict[str, np.ndarray], runs: int = 3) -> dict[str, float]:
        """Mean ms per ``op_type@device`` over ``runs`` profiled runs (after the timing)."""
        self.session.profile_enabled = True
        totals: dict[str, float] = {}
        for _ in range(runs):
            self.session.run(feeds)
            for op in self.session.last_profile:
                key = f"{op.op_type}@{op.device}"
                totals[key] = totals.get(key, 0.0) + op.time_ms / runs
        self.session.profile_enabled = False
        return dict(sorted(totals.items(), key=lambda kv: -kv[1]))

    def info(self) -> dict:
        placement = self.session.placement
        fallback: dict[str, int] = {}
        for step in placement.steps:
            if step.fallback:
                fallback[step.node.qualified_op] = fallback.get(step.node.qualified_op, 0) + 1
        return {
            "version": mace_core.__version__,
            "devices": placement.devices,
            "unavailable": placement.unavailable,
            "ops_per_device": placement.counts(),
            "fallback_ops": sum(fallback.values()),
            "fallback_by_type": dict(sorted(fallback.items())),
            "partitions": len(placement.partitions),
        }


def load(model: dict, threads: int) -> Runner:
    return Runner(model, threads)
