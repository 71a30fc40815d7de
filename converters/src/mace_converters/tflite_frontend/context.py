"""What a TFLite op converter sees: the builder, the model, and one operator."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from mace_converters.nhwc.builder import LayoutBuilder
from mace_converters.tflite_frontend.loading import TfliteModel, enum_names
from mace_core.errors import ConversionError
from mace_core.ir import QuantParams


@attrs.define
class OpContext:
    """One TFLite operator being converted.

    ``inputs`` holds the source key of each input (None for an omitted optional input,
    index -1 in the flatbuffer); ``shapes``, ``dtypes`` and ``quants`` map a key to the
    shape, element type and quantization stored in the file.
    """

    b: LayoutBuilder
    tfl: TfliteModel
    op: Any
    name: str
    inputs: list[str | None]
    outputs: list[str]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]
    quants: dict[str, QuantParams]

    @property
    def options(self) -> Any:
        return self.op.builtinOptions

    def opt(self, field: str, default: Any = None) -> Any:
        options = self.op.builtinOptions
        return getattr(options, field, default) if options is not None else default

    def input(self, i: int) -> str:
        if i >= len(self.inputs) or self.inputs[i] is None:
            raise self.fail(f"input {i} is required but missing")
        return self.inputs[i]  # type: ignore[return-value]

    def optional(self, i: int) -> str | None:
        return self.inputs[i] if i < len(self.inputs) else None

    @property
    def out(self) -> str:
        return self.outputs[0]

    def const(self, i: int, what: str) -> np.ndarray:
        return self.b.const(self.input(i), f"{self.name} {what}")

    def activation(self) -> str:
        code = self.opt("fusedActivationFunction", 0)
        names = enum_names(self.tfl.schema.ActivationFunctionType)
        return names.get(code, str(code))

    def padding(self) -> str:
        names = enum_names(self.tfl.schema.Padding)
        return names.get(self.opt("padding", 0), "SAME")

    def type_name(self, code: int) -> str:
        name = self.tfl.type_names.get(code, str(code))
        return {"BOOL": "bool"}.get(name, name.lower())

    def fail(self, message: str) -> ConversionError:
        return ConversionError(f"{self.tfl.path}: {self.name} producing {self.out!r}: {message}")
