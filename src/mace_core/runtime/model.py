"""A loaded model: the graph from ``<name>.pb`` + ``<name>.data``, ready to make sessions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mace_core.ir import Graph
from mace_core.registry import Registry, default_registry
from mace_core.runtime.session import Session


class Model:
    """A deployable model. ``session()`` places and plans it for a list of devices."""

    def __init__(self, graph: Graph, path: Path | None = None,
                 registry: Registry | None = None) -> None:
        self.graph = graph
        self.path = path
        self.registry = registry or default_registry()

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def inputs(self):
        return [self.graph.desc(n) for n in self.graph.inputs]

    @property
    def outputs(self):
        return [self.graph.desc(n) for n in self.graph.outputs]

    def session(self, devices: Sequence[str] | str = ("cpu", "reference"), *,
                profile: bool = False, **options: Any) -> Session:
        """Place the model on ``devices`` (preference order, with per-op fallback).

        Devices that are absent are skipped (see ``session.placement.unavailable``); extra
        keyword options (e.g. ``cpu_threads``) are passed to the devices' kernels.
        """
        if isinstance(devices, str):
            devices = [d.strip() for d in devices.split(",") if d.strip()]
        return Session(self.graph, self.registry, devices, profile=profile, options=options)

    def __repr__(self) -> str:
        ins = ", ".join(f"{d.name}: {d.describe()}" for d in self.inputs)
        return f"<Model {self.name!r} ({len(self.graph.nodes)} nodes; inputs {ins})>"


def load(path: str | Path, *, verify: bool = True, registry: Registry | None = None) -> Model:
    """Load ``<name>.pb`` (and ``<name>.data`` beside it); checksums verified by default."""
    from mace_core.model_format import load_graph

    path = Path(path)
    graph = load_graph(path, verify=verify)
    return Model(graph, path, registry)
