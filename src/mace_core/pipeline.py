"""The conversion pipeline: frontend -> shape inference -> passes -> model files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs

from mace_core.ir import Graph
from mace_core.passes.constant_folding import fold_and_infer
from mace_core.registry import Registry, default_registry
from mace_core.shape_inference import infer_shapes
from mace_core.specs import ConvertOptions, PassContext


@attrs.frozen
class PassReport:
    name: str
    changed: bool
    nodes_before: int
    nodes_after: int


def import_model(src: Path, options: ConvertOptions, registry: Registry | None = None,
                 format: str | None = None) -> Graph:
    """Run the matching frontend and shape inference; no optimisation."""
    registry = registry or default_registry()
    spec = registry.converter_for(src, format)
    graph = spec.convert(Path(src), options, registry)
    graph.validate()
    # Shape inference node by node, folding shape subgraphs (Shape -> Gather -> Concat ->
    # Reshape) as it goes, so later nodes see constant shapes.
    fold_and_infer(graph, registry)
    return graph


def optimize(graph: Graph, registry: Registry | None = None, *, devices=(),
             skip: set[str] = frozenset(), progress: Callable[[str], None] | None = None
             ) -> list[PassReport]:
    """Run every default pass in order (except those in ``skip``); re-infer shapes after each."""
    registry = registry or default_registry()
    ctx = PassContext(registry=registry, devices=tuple(devices))
    reports = []
    for spec in registry.passes:
        if not spec.default or spec.name in skip:
            continue
        if progress:
            progress(spec.name)
        before = len(graph.nodes)
        changed = bool(spec.fn(graph, ctx))
        if changed:
            graph.validate()
            infer_shapes(graph, registry)
        reports.append(PassReport(spec.name, changed, before, len(graph.nodes)))
    return reports
