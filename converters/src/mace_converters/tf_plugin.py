"""Registers the TensorFlow frontend (frozen .pb, SavedModel directory, Keras .keras/.h5).
TensorFlow is imported only when a model is converted or run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mace_converters import require
from mace_core._hookspecs import hookimpl
from mace_core.ir import Graph
from mace_core.registry import Registry
from mace_core.specs import ConverterSpec, ConvertOptions

REQUIRES = "pip install 'mace-converters[tensorflow]'"


def sniff(path: Path) -> bool:
    """True for SavedModel directories and Keras v3 archives; ``.pb``/``.h5`` go by suffix."""
    path = Path(path)
    if path.is_dir():
        return (path / "saved_model.pb").is_file()
    if path.suffix.lower() == ".keras":
        try:
            with open(path, "rb") as f:
                return f.read(2) == b"PK"
        except OSError:
            return False
    return False


def convert(path: Path, options: ConvertOptions, registry: Registry) -> Graph:
    """Convert a TensorFlow model (see ``mace_converters.tf_frontend``)."""
    require("tensorflow", f"converting {path}", REQUIRES)
    from mace_converters.tf_frontend import convert_tf

    return convert_tf(Path(path), options, registry)


def run_source(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the model with TensorFlow; outputs named as the converted graph names them."""
    require("tensorflow", f"running {path}", REQUIRES)
    from mace_converters.tf_frontend.runner import run_tensorflow

    return run_tensorflow(Path(path), feeds)


@hookimpl
def mace_register_converters(register):
    register(
        ConverterSpec(
            format="tensorflow",
            suffixes=(".pb", ".keras", ".h5", ".hdf5"),
            sniff=sniff,
            convert=convert,
            run_source=run_source,
            requires=REQUIRES,
        )
    )
