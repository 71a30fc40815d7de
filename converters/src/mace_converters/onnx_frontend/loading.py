"""Reading an .onnx file: parse errors, external data, opset and local functions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import onnx
from onnx import external_data_helper

from mace_core.errors import ConversionError

MIN_OPSET = 7
DEFAULT_DOMAINS = ("", "ai.onnx")


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every TensorProto of a graph: initializers and tensor attributes, subgraphs included."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _graph_tensors(attr.g)
            for sub in attr.graphs:
                yield from _graph_tensors(sub)


def _check_external_files(model: onnx.ModelProto, path: Path) -> None:
    base = path.parent
    missing: dict[str, list[str]] = {}
    for tensor in _graph_tensors(model.graph):
        if not external_data_helper.uses_external_data(tensor):
            continue
        location = external_data_helper.ExternalDataInfo(tensor).location
        if not (base / location).is_file():
            missing.setdefault(location, []).append(tensor.name)
    if missing:
        lines = [
            f"  {base / loc} (holds {', '.join(names[:5])}"
            f"{f' and {len(names) - 5} more' if len(names) > 5 else ''})"
            for loc, names in sorted(missing.items())
        ]
        raise ConversionError(
            f"{path}: the model keeps weights in external data files that are missing:\n"
            + "\n".join(lines)
            + "\nput the data files next to the model (paths are relative to its directory)"
        )


def load_model(path: Path) -> onnx.ModelProto:
    """Parse ``path`` and load its external data from the model's directory.

    Every failure (missing file, truncated or foreign file, missing external data) is a
    ConversionError naming the file.
    """
    if not path.exists():
        raise ConversionError(f"{path}: no such file")
    if path.is_dir():
        raise ConversionError(f"{path} is a directory; give the .onnx file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ConversionError(
            f"{path} is not a readable ONNX model: cannot parse it as an ONNX ModelProto "
            f"({type(exc).__name__}: {exc}); the file may be truncated or of another format"
        ) from None
    if not model.HasField("graph") or model.ir_version <= 0:
        raise ConversionError(
            f"{path} does not look like an ONNX model (it has no graph or no IR version); "
            "the file may be truncated or of another format"
        )
    _check_external_files(model, path)
    try:
        external_data_helper.load_external_data_for_model(model, str(path.parent))
    except Exception as exc:
        raise ConversionError(
            f"{path}: cannot load its external data ({type(exc).__name__}: {exc})"
        ) from None
    return model


def default_opset(model: onnx.ModelProto, path: Path) -> int:
    """The opset version of the default (ai.onnx) domain; at least ``MIN_OPSET``.

    A model whose nodes all belong to other domains may import no ai.onnx opset; it gets
    the newest opset this onnx knows (nothing depends on it then).
    """
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions:
        if not any(n.domain in DEFAULT_DOMAINS for n in model.graph.node):
            return onnx.defs.onnx_opset_version()
        raise ConversionError(
            f"{path}: the model imports no ai.onnx opset (opset_import has "
            f"{[o.domain for o in model.opset_import] or 'nothing'}); the file may be "
            "truncated or not an ONNX model"
        )
    opset = max(versions)
    if opset < MIN_OPSET:
        raise ConversionError(
            f"{path} uses ONNX opset {opset}; the ONNX frontend needs opset {MIN_OPSET} or newer. "
            "Upgrade it with onnx.version_converter.convert_version(model, 13) or re-export "
            "it with a newer opset"
        )
    return opset


def inline_functions(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    """Expand model-local functions into plain nodes (no-op when there are none)."""
    if not model.functions:
        return model
    try:
        from onnx import inliner

        return inliner.inline_local_functions(model)
    except Exception as exc:
        raise ConversionError(
            f"{path}: cannot inline the model's local functions ({type(exc).__name__}: {exc})"
        ) from None
