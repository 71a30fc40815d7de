"""Placement: for every node, the first device in the user's preference order that has a
kernel accepting it. Consecutive nodes on one device form a partition."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from mace_core.errors import DeviceUnavailable, UnsupportedOpError
from mace_core.ir import Graph, Node
from mace_core.registry import Registry
from mace_core.specs import KernelSpec


@attrs.frozen
class Placed:
    node: Node
    device: str
    kernel: KernelSpec
    fallback: bool  # True when a preferred device could not take this node


@attrs.frozen
class Partition:
    device: str
    start: int  # index of first step
    stop: int  # one past the last step


@attrs.define
class Placement:
    steps: list[Placed]
    devices: list[str]  # usable devices in preference order
    unavailable: dict[str, str]  # device -> reason it was skipped

    @property
    def partitions(self) -> list[Partition]:
        parts: list[Partition] = []
        for i, step in enumerate(self.steps):
            if parts and parts[-1].device == step.device:
                parts[-1] = Partition(step.device, parts[-1].start, i + 1)
            else:
                parts.append(Partition(step.device, i, i + 1))
        return parts

    @property
    def transfers(self) -> int:
        """Device changes between consecutive partitions (each moves tensors)."""
        return max(0, len(self.partitions) - 1)

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for step in self.steps:
            result[step.device] = result.get(step.device, 0) + 1
        return result


def place(graph: Graph, registry: Registry, devices: Sequence[str]) -> Placement:
    """Place every node; raises UnsupportedOpError listing every node nothing can run."""
    if isinstance(devices, str):
        devices = [d for d in devices.split(",") if d]
    if not devices:
        raise DeviceUnavailable("no device given; try devices=['cpu', 'reference']")
    usable: list[str] = []
    unavailable: dict[str, str] = {}
    for name in devices:
        try:
            registry.probe(name)
        except DeviceUnavailable as exc:
            unavailable[name] = str(exc)
        else:
            usable.append(name)
    if not usable:
        reasons = "\n".join(f"  {d}: {why}" for d, why in unavailable.items())
        raise DeviceUnavailable(
            f"none of the requested devices can be used here:\n{reasons}\n"
            "`mace devices` lists what this machine has; 'reference' is always available"
        )
    steps: list[Placed] = []
    missing: list[Node] = []
    for node in graph.nodes:
        chosen: Placed | None = None
        for rank, device in enumerate(usable):
            for kernel in registry.kernels_for(node, device):
                if kernel.accepts(node, graph):
                    chosen = Placed(node, device, kernel, fallback=rank > 0)
                    break
            if chosen:
                break
        if chosen is None:
            missing.append(node)
        else:
            steps.append(chosen)
    if missing:
        from mace_core.registry import unsupported_message

        raise UnsupportedOpError(
            f"no kernel on {', '.join(usable)} for these nodes. "
            + unsupported_message(missing)
            + "\nAdding 'reference' to the device list runs any core op."
        )
    return Placement(steps=steps, devices=usable, unavailable=unavailable)
