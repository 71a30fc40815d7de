"""Registers the TFLite frontend. Imports nothing of LiteRT until a model is converted or
run, so ``mace plugins`` lists the frontend (and what to install) even without the extra."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mace_core._hookspecs import hookimpl
from mace_core.ir import Graph
from mace_core.registry import Registry
from mace_core.specs import ConverterSpec, ConvertOptions

REQUIRES = "pip install 'mace-converters[tflite]'"


def sniff(path: Path) -> bool:
    """True for files carrying the TFLite flatbuffer identifier ``TFL3`` at bytes 4..8."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[4:8] == b"TFL3"


def convert(path: Path, options: ConvertOptions, registry: Registry) -> Graph:
    """Convert the .tflite model at ``path`` (see ``mace_converters.tflite_frontend``)."""
    from mace_converters.tflite_frontend import convert_tflite

    return convert_tflite(Path(path), options, registry)


def run_source(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the model with the LiteRT interpreter; every output by tensor name."""
    from mace_converters.tflite_frontend.runner import run_litert

    return run_litert(Path(path), feeds)


@hookimpl
def mace_register_converters(register):
    register(
        ConverterSpec(
            format="tflite",
            suffixes=(".tflite",),
            sniff=sniff,
            convert=convert,
            run_source=run_source,
            requires=REQUIRES,
        )
    )
