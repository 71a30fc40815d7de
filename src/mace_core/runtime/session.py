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
from mace_core.runtime.placement import Placed, Placement, place
from mace_core.specs import FusedRun

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


@attrs.frozen
class _Unit:
    """What the run loop calls: one placed step, or a partition its device fused."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    runner: Runner
    device: str
    crossing: tuple[tuple[int, Callable[[Any], np.ndarray]], ...]  # inputs from elsewhere
    step: Placed | None  # None for a fused partition
    label: str  # names the node(s) and kernel in error messages
    drops: tuple[str, ...] = ()  # intermediate tensors dead after this unit
    steps: tuple[int, ...] = ()  # a fused partition: its steps (indices in the placement)


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
    """Runs one model on the devices it was placed on. Build it with ``Model.session``.

    A partition whose device can ``fuse`` it runs as one unit (see
    ``mace_core.specs.Device``); profiled runs time its ops inside that unit when its
    runner can (``timed``), else run them one by one. ``fuse_enabled = False`` runs every
    op through its own runner; the session option ``fuse_partitions=False`` does not even
    offer the partitions to their devices.
    """

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
        self._producer_device = {name: s.device for s in self.placement.steps
                                 for name in s.node.outputs}
        self.fuse_enabled = bool(self.options.get("fuse_partitions", True))
        self._op_units = self._with_drops([self._step_unit(i) for i in
                                           range(len(self.placement.steps))])
        self._fused_units = (self._with_drops(self._fuse_partitions()) if self.fuse_enabled
                             else self._op_units)
        self._fused_constants = self._constants_read(self._fused_units)
        self._profile_units: list[_Unit] | None = None
        self._synchronize = {name: self.registry.devices[name].synchronize
                             for name in self.placement.devices
                             if hasattr(self.registry.devices[name], "synchronize")}
        self.memory_plans: dict[str, MemoryPlan] = self._plan_memory()

    # -- setup ---------------------------------------------------------------------
    def _step_unit(self, index: int) -> _Unit:
        step = self.placement.steps[index]
        node = step.node
        return _Unit(tuple(node.inputs), tuple(node.outputs), self._runners[index],
                     step.device, self._crossing(node.inputs, step.device), step,
                     f"{node} failed on device {step.device!r} ({step.kernel.label})")

    def _crossing(self, inputs: Sequence[str], device: str
                  ) -> tuple[tuple[int, Callable[[Any], np.ndarray]], ...]:
        """The positions of ``inputs`` produced on another device than ``device``
        (transfers), with the producer's ``to_host`` (``np.asarray`` when it has none)."""
        produced_on = self._producer_device
        return tuple(
            (i, getattr(self.registry.devices[produced_on[name]], "to_host", np.asarray))
            for i, name in enumerate(inputs)
            if name and name in produced_on and produced_on[name] != device
        )

    def _fuse_partitions(self) -> list[_Unit]:
        """Units for the fused path: each partition its device fuses, else its steps."""
        steps, graph = self.placement.steps, self.graph
        last_read = {name: i for i, s in enumerate(steps) for name in s.node.inputs}
        units: list[_Unit] = []
        for part in self.placement.partitions:
            fuse = getattr(self.registry.devices[part.device], "fuse", None)
            fused = None
            if fuse is not None and part.stop - part.start > 1:
                nodes = tuple(s.node for s in steps[part.start:part.stop])
                produced = {name for node in nodes for name in node.outputs if name}
                inputs = tuple(dict.fromkeys(
                    name for node in nodes for name in node.inputs
                    if name and name not in produced and name not in graph.constants))
                outputs = tuple(name for node in nodes for name in node.outputs if name and (
                    last_read.get(name, -1) >= part.stop or name in graph.outputs))
                runner = fuse(FusedRun(nodes, tuple(self._runners[part.start:part.stop]),
                                       inputs, outputs, graph, self.options))
                if runner is not None:
                    label = (f"{nodes[0]} .. {nodes[-1]} ({len(nodes)} ops fused) failed on "
                             f"device {part.device!r}")
                    fused = _Unit(inputs, outputs, runner, part.device,
                                  self._crossing(inputs, part.device), None, label,
                                  steps=tuple(range(part.start, part.stop)))
            units.extend([fused] if fused else
                         [self._step_unit(i) for i in range(part.start, part.stop)])
        return units

    def _with_drops(self, units: list[_Unit]) -> list[_Unit]:
        """The units with, for each, the intermediate tensors that can be dropped after it."""
        keep = set(self.graph.outputs) | set(self.graph.constants)
        last: dict[str, int] = {}
        for i, unit in enumerate(units):
            for name in unit.inputs:
                if name:
                    last[name] = i
            for name in unit.outputs:
                if name:
                    last.setdefault(name, i)
        drops: list[list[str]] = [[] for _ in units]
        for name, i in last.items():
            if name not in keep:
                drops[i].append(name)
        return [attrs.evolve(unit, drops=tuple(d)) for unit, d in zip(units, drops, strict=True)]

    def _profiled_units(self) -> list[_Unit]:
        """What a profiled run calls: the fused partitions whose runner times its ops
        (``timed``), so the profile is of the run as it happens; the others op by op."""
        if not self.fuse_enabled:
            return self._op_units
        if self._profile_units is None:
            units: list[_Unit] = []
            for unit in self._fused_units:
                if unit.step is None and not hasattr(unit.runner, "timed"):
                    units.extend(self._step_unit(i) for i in unit.steps)
                else:
                    units.append(unit)
            self._profile_units = self._with_drops(units)
        return self._profile_units

    def _nbytes(self, name: str) -> int:
        try:
            return self.graph.desc(name).nbytes
        except (KeyError, TypeError):  # no static shape
            return 0

    def _constants_read(self, units: list[_Unit]) -> dict[str, Any]:
        """The constants ``units`` (or the graph's outputs) read: what a run starts with."""
        names = {name for unit in units for name in unit.inputs} | set(self.graph.outputs)
        return {name: value for name, value in self.graph.constants.items() if name in names}

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
        timing = self.profile_enabled
        fused = self.fuse_enabled and not timing
        units = (self._profiled_units() if timing
                 else self._fused_units if fused else self._op_units)
        values: dict[str, Any] = dict(self._fused_constants if fused else self.graph.constants)
        for sync in self._synchronize.values() if timing else ():
            sync()  # nothing queued before the first timed op
        values.update(self.check_inputs(feeds))
        profile: list[OpProfile] = []
        for unit in units:
            args = [values[name] if name else None for name in unit.inputs]
            for i, to_host in unit.crossing:  # device-resident values (GPU images...) to host
                if not isinstance(args[i], np.ndarray):
                    args[i] = to_host(args[i])
            start = time.perf_counter() if timing else 0.0
            unit_ms: Sequence[float] = ()
            try:
                if timing and unit.step is None:  # a fused partition that times its ops
                    results, unit_ms = unit.runner.timed(args)
                else:
                    results = unit.runner(args)
            except MaceError:
                raise
            except Exception as exc:
                raise MaceError(f"{unit.label}: {type(exc).__name__}: {exc}") from exc
            for name, value in zip(unit.outputs, results, strict=False):  # trailing optional
                if name:
                    values[name] = value
            if timing and unit.step is not None:
                step = unit.step
                sync = self._synchronize.get(step.device)
                if sync is not None:
                    sync()
                elapsed = (time.perf_counter() - start) * 1e3
                nbytes = sum(getattr(r, "nbytes", 0) for r in results)
                profile.append(OpProfile(step.node.name, step.node.qualified_op, step.device,
                                         step.kernel.label, elapsed, nbytes, step.fallback))
            elif timing:
                for index, ms in zip(unit.steps, unit_ms, strict=True):
                    step = self.placement.steps[index]
                    nbytes = sum(self._nbytes(name) for name in step.node.outputs if name)
                    profile.append(OpProfile(step.node.name, step.node.qualified_op,
                                             step.device, step.kernel.label, ms, nbytes,
                                             step.fallback))
            for name in unit.drops:
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
