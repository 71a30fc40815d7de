"""Model frontends for mace-core: ONNX, TensorFlow and TFLite; each frontend's framework is
an optional extra of this distribution."""

from __future__ import annotations

import importlib.util

from mace_core.errors import ConversionError

__version__ = "0.1.0"


def require(module: str, what: str, install: str) -> None:
    """Raise a ConversionError saying how to install ``module`` when it is missing."""
    if importlib.util.find_spec(module) is None:
        raise ConversionError(
            f"{what} needs the {module!r} package, which is not installed; install it with "
            f"`{install}`"
        )
