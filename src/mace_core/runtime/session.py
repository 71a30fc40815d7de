"""Sessions: a placed, memory-planned model ready to run on numpy inputs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from mace_core.dtypes import DType
from mace_core.errors import InputError, MaceError
from mace_core.ir import Graph
from mace_core.memory.plan import MemoryPlan
from mace_core.registry import Registry
from mace_core.runtime.placement import Placement, place

Runner = Callable[[Sequence[Any]], Sequence[Any]]


@attrs.frozen
class OpProfile:
    """One executed op: where it ran, how long it took, how many bytes it produced."""

    node: str
    op_type: str
    device: str
    kernel: str
    time_ms: float
    output_bytes: int
    fallback: bool


def _make_runner(step, graph: Graph, registry: Registry, options: dict[str, Any]) -> Runner:
    node, kernel = step.node, step.kernel
    attrs_ = registry.schema(node).resolve_attrs(node)
    if kernel.prepare is not None:
        return kernel.prepare(node, attrs_, graph, options)
    fn = kernel.fn

    def run(inputs: Sequence[Any]) -> Sequence[Any]:
        out = fn(*inputs, **attrs_)
        return out if isinstance(out, (tuple, list)) else (out,)

    return run


class Session:
    """Runs one model on the devices it was placed on. Build it with ``Model.session``."""

    def __init__(
        self,
        graph: Graph,
        registry: Registry,
        devices: Sequence[str] = ("cpu", "reference"),
        *,
        profile: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.graph = graph
        self.registry = registry
        self.options = dict(options or {})
        self.placement: Placement = place(graph, registry, devices)
        self.profile_enabled = profile
        self.last_profile: list[OpProfile] = []
        self._runners = [_make_runner(s, graph, registry, self.options)
                         for s in self.placement.steps]
        self._last_use = self._compute_last_use()
        self._crossing = self._compute_crossings()
        self._producer_device = {name: s.device for s in self.placement.steps
                                 for name in s.node.outputs}
        self._synchronize = {name: self.registry.devices[name].synchronize
                             for name in self.placement.devices
                             if hasattr(self.registry.devices[name], "synchronize")}
        self.memory_plans: dict[str, MemoryPlan] = self._plan_memory()

    # -- setup ---------------------------------------------------------------------
    def _compute_last_use(self) -> list[list[str]]:
        """For each step, the intermediate tensors that can be dropped after it."""
        keep = set(self.graph.outputs) | set(self.graph.constants)
        last: dict[str, int] = {}
        for i, step in enumerate(self.placement.steps):
            for name in step.node.inputs:
                if name:
                    last[name] = i
            for name in step.node.outputs:
                if name:
                    last.setdefault(name, i)
        drops: list[list[str]] = [[] for _ in self.placement.steps]
        for name, i in last.items():
            if name not in keep:
                drops[i].append(name)
        return drops

    def _compute_crossings(self) -> list[list[tuple[int, Callable[[Any], np.ndarray]]]]:
        """For each step, the inputs produced on another device (transfers): their positions
        and the producing device's ``to_host`` (``np.asarray`` when it has none)."""
        produced_on: dict[str, str] = {}
        result = []
        for step in self.placement.steps:
            result.append([
                (i, getattr(self.registry.devices[produced_on[name]], "to_host", np.asarray))
                for i, name in enumerate(step.node.inputs)
                if name in produced_on and produced_on[name] != step.device
            ])
            for name in step.node.outputs:
                produced_on[name] = step.device
        return result

    def _plan_memory(self) -> dict[str, MemoryPlan]:
        plans: dict[str, MemoryPlan] = {}
        order = [s.node for s in self.placement.steps]
        for device in self.placement.devices:
            plan = self.registry.pm.hook.mace_plan_memory(
                graph=self.graph, order=order, device=device
            )
            if plan is not None:
                plans[device] = plan
        return plans

    # -- running -------------------------------------------------------------------
    @property
    def input_descs(self):
        return [self.graph.desc(n) for n in self.graph.inputs]

    @property
    def output_names(self) -> list[str]:
        return list(self.graph.outputs)

    def check_inputs(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        expected = {d.name: d for d in self.input_descs}
        unknown = sorted(set(feeds) - set(expected))
        missing = sorted(set(expected) - set(feeds))
        if unknown or missing:
            parts = []
            if missing:
                parts.append("missing: " + ", ".join(missing))
            if unknown:
                parts.append("unknown: " + ", ".join(unknown))
            wanted = ", ".join(f"{d.name} {d.describe()}" for d in expected.values())
            raise InputError(f"inputs do not match the model ({'; '.join(parts)}); "
                             f"the model takes: {wanted}")
        checked = {}
        for name, desc in expected.items():
            value = np.asarray(feeds[name])
            if value.dtype != desc.dtype.numpy:
                raise InputError(
                    f"input {name!r} has dtype {value.dtype}, the model expects {desc.dtype}; "
                    f"convert it with array.astype(np.{desc.dtype.value})"
                )
            if tuple(value.shape) != desc.shape:
                raise InputError(
                    f"input {name!r} has shape {list(value.shape)}, the model expects "
                    f"{list(desc.shape)}; reconvert with --input-shape {name}="
                    f"{','.join(map(str, value.shape))} to change it"
                )
            checked[name] = np.asarray(value, order="C")  # keeps 0-d inputs 0-d
        return checked

    def run(self, feeds: Mapping[str, Any], outputs: Sequence[str] | None = None
            ) -> dict[str, np.ndarray]:
        """Run the model on ``feeds`` (input name -> array); returns output name -> array."""
        values: dict[str, Any] = dict(self.graph.constants)
        for sync in self._synchronize.values() if self.profile_enabled else ():
            sync()  # nothing queued before the first timed op
        values.update(self.check_inputs(feeds))
        profile: list[OpProfile] = []
        timing = self.profile_enabled
        steps = zip(self.placement.steps, self._runners, self._last_use, self._crossing,
                    strict=True)
        for step, runner, drops, crossing in steps:
            node = step.node
            args = [values[name] if name else None for name in node.inputs]
            for i, to_host in crossing:  # device-resident values (GPU images...) to the host
                if not isinstance(args[i], np.ndarray):
                    args[i] = to_host(args[i])
            start = time.perf_counter() if timing else 0.0
            try:
                results = runner(args)
            except MaceError:
                raise
            except Exception as exc:
                raise MaceError(
                    f"{node} failed on device {step.device!r} ({step.kernel.label}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            for name, value in zip(node.outputs, results, strict=False):  # trailing optional
                if name:
                    values[name] = value
            if timing:
                sync = self._synchronize.get(step.device)
                if sync is not None:
                    sync()
                elapsed = (time.perf_counter() - start) * 1e3
                nbytes = sum(getattr(r, "nbytes", 0) for r in results)
                profile.append(OpProfile(node.name, node.qualified_op, step.device,
                                         step.kernel.label, elapsed, nbytes, step.fallback))
            for name in drops:
                values.pop(name, None)
        self.last_profile = profile
        wanted = outputs or self.graph.outputs
        result = {}
        for name in wanted:
            value = values[name]
            if not isinstance(value, np.ndarray):
                device = self.registry.devices.get(self._producer_device.get(name, ""))
                value = getattr(device, "to_host", np.asarray)(value)
            result[name] = np.asarray(value)
        return result

    def random_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Inputs of the right names, shapes and dtypes (uniform in [-1, 1) for floats)."""
        rng = np.random.default_rng(seed)
        feeds = {}
        for desc in self.input_descs:
            if desc.dtype in (DType.FLOAT32, DType.FLOAT16):
                feeds[desc.name] = rng.uniform(-1, 1, desc.shape).astype(desc.dtype.numpy)
            elif desc.dtype == DType.BOOL:
                feeds[desc.name] = rng.integers(0, 2, desc.shape).astype(bool)
            else:
                info = np.iinfo(desc.dtype.numpy)
                # quantized inputs span their whole range; other integers are small indices
                low, high = (info.min, info.max) if desc.quant else (0, 9)
                feeds[desc.name] = rng.integers(low, high, desc.shape, endpoint=True
                                                ).astype(desc.dtype.numpy)
        return feeds
