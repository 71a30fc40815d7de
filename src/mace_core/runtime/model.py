"""A loaded model: the graph from ``<name>.pb`` + ``<name>.data``, ready to make sessions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mace_core.ir import Graph
from mace_core.registry import Registry, default_registry
from mace_core.runtime.session import Session

DEFAULT_DEVICES = ("cpu", "reference")

# Session options a deployment file may set, by the metadata key `mace convert --config` wrote.
_DEPLOY_OPTIONS = {
    "deploy.gpu_storage": ("gpu_storage", str),
    "deploy.kernel_time_limit_ms": ("gpu_kernel_time_limit_ms", float),
}


class Model:
    """A deployable model. ``session()`` places and plans it for a list of devices."""

    def __init__(self, graph: Graph, path: Path | None = None,
                 registry: Registry | None = None) -> None:
        self.graph = graph
        self.path = path
        self.registry = registry or default_registry()
        self.weight_storage = "fp32"  # "fp16": its file stores float weights as float16

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def inputs(self):
        return [self.graph.desc(n) for n in self.graph.inputs]

    @property
    def outputs(self):
        return [self.graph.desc(n) for n in self.graph.outputs]

    @property
    def default_devices(self) -> list[str]:
        """The runtime order of the deployment file it was built from, else cpu, reference."""
        runtime = self.graph.metadata.get("deploy.runtime", "")
        return [d for d in runtime.split(",") if d] or list(DEFAULT_DEVICES)

    @property
    def default_options(self) -> dict[str, Any]:
        """Session options recorded from the deployment file (GPU storage, time limit);
        fp16-stored weights stay fp16 in the cpu plans (``cpu_weight_dtype``)."""
        options: dict[str, Any] = {}
        if self.weight_storage == "fp16":
            options["cpu_weight_dtype"] = "float16"
        for key, (name, kind) in _DEPLOY_OPTIONS.items():
            if key in self.graph.metadata:
                options[name] = kind(self.graph.metadata[key])
        return options

    def session(self, devices: Sequence[str] | str | None = None, *,
                profile: bool = False, **options: Any) -> Session:
        """Place the model on ``devices`` (preference order, with per-op fallback).

        ``devices`` defaults to :attr:`default_devices`. Devices that are absent are skipped
        (see ``session.placement.unavailable``); keyword options (e.g. ``cpu_threads``,
        ``gpu_storage``) go to the devices' kernels, over :attr:`default_options`.
        """
        if devices is None:
            devices = self.default_devices
        if isinstance(devices, str):
            devices = [d.strip() for d in devices.split(",") if d.strip()]
        merged = {**self.default_options, **options}
        return Session(self.graph, self.registry, devices, profile=profile, options=merged)

    def __repr__(self) -> str:
        ins = ", ".join(f"{d.name}: {d.describe()}" for d in self.inputs)
        return f"<Model {self.name!r} ({len(self.graph.nodes)} nodes; inputs {ins})>"


def load(path: str | Path, *, verify: bool = True, registry: Registry | None = None) -> Model:
    """Load ``<name>.pb`` (and ``<name>.data`` beside it); checksums verified by default."""
    from mace_core.model_format import load_graph
    from mace_core.model_format.inspect import describe

    path = Path(path)
    graph = load_graph(path, verify=verify)
    model = Model(graph, path, registry)
    model.weight_storage = describe(path)["weights"]
    return model
