"""Registers the ONNX frontend. Imports no ONNX code until a model is converted or run,
so ``mace plugins`` lists the frontend (and what to install) even without the extra."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mace_converters import require
from mace_core._hookspecs import hookimpl
from mace_core.ir import Graph
from mace_core.registry import Registry
from mace_core.specs import ConverterSpec, ConvertOptions

REQUIRES = "pip install 'mace-converters[onnx]'"

# Field tags that may follow ``ir_version`` (field 1) at the start of a serialized ModelProto:
# producer_name, producer_version, domain, model_version, doc_string, graph, opset_import,
# metadata_props; training_info and functions start with 0xA2 / 0xCA (two-byte tags).
_MODEL_TAGS = frozenset({0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0xA2, 0xCA})


def sniff(path: Path) -> bool:
    """True for ``*.onnx`` files and for files that start like a serialized ONNX ModelProto."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    # ModelProto starts with ir_version (tag 0x08, a small varint) then another model field.
    return len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 32 and head[2] in _MODEL_TAGS


def convert(path: Path, options: ConvertOptions, registry: Registry) -> Graph:
    """Convert the ONNX model at ``path`` into a mace-core graph (see ``onnx_frontend``)."""
    require("onnx", f"converting {path}", REQUIRES)
    from mace_converters.onnx_frontend import convert_onnx

    return convert_onnx(Path(path), options, registry)


def run_source(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the ONNX model with onnxruntime (CPU) and return every graph output by name."""
    require("onnxruntime", f"running {path}", REQUIRES)
    from mace_converters.onnx_frontend.runner import run_onnxruntime

    return run_onnxruntime(Path(path), feeds)


@hookimpl
def mace_register_converters(register):
    register(
        ConverterSpec(
            format="onnx",
            suffixes=(".onnx",),
            sniff=sniff,
            convert=convert,
            run_source=run_source,
            requires=REQUIRES,
        )
    )
