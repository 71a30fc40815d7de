"""Graph inputs: static shapes (from the model or ``--input-shape``) and dtypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from mace_converters.onnx_frontend.tensors import to_dtype
from mace_core.dtypes import DType
from mace_core.errors import ConversionError
from mace_core.frozen_inputs import frozen_value
from mace_core.ir import TensorDesc
from mace_core.specs import ConvertOptions

Dims = list[int | str]  # a static size, or a name for a dynamic one


def model_dims(value: onnx.ValueInfoProto) -> Dims | None:
    """The input's dims as the model declares them (None when even the rank is unknown)."""
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    dims: Dims = []
    for i, dim in enumerate(tensor_type.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value >= 0:
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or f"?{i}")
    return dims


def _show(dims: Dims | None) -> str:
    return "unknown rank" if dims is None else "[" + ", ".join(str(d) for d in dims) + "]"


def _example(name: str, dims: Dims | None) -> str:
    sizes = ["1"] if dims is None else [str(d) if isinstance(d, int) else "1" for d in dims]
    return f"--input-shape {name}={','.join(sizes)}"


def input_descs(inputs: list[onnx.ValueInfoProto], options: ConvertOptions,
                path: Path) -> list[TensorDesc]:
    """A TensorDesc per graph input; every dynamic dimension must come from ``options``."""
    names = [v.name for v in inputs]
    unknown = sorted(set(options.input_shapes) - set(names))
    unknown_dtypes = sorted(set(options.input_dtypes) - set(names))
    if unknown or unknown_dtypes:
        raise ConversionError(
            f"{path}: --input-shape / input dtype given for {', '.join(unknown + unknown_dtypes)}, "
            f"which the model has no input of; its inputs are: {', '.join(names) or 'none'}"
        )
    descs: list[TensorDesc] = []
    dynamic: list[str] = []
    for value in inputs:
        name = value.name
        if not value.type.HasField("tensor_type"):
            kind = value.type.WhichOneof("value") or "unknown"
            raise ConversionError(
                f"{path}: input {name!r} is a {kind}, not a tensor; only tensor inputs are "
                "supported"
            )
        if name in options.input_dtypes:
            dtype = DType(options.input_dtypes[name])
        else:
            dtype = to_dtype(value.type.tensor_type.elem_type, f"{path}: input {name!r}")
        dims = model_dims(value)
        if name in options.input_shapes:
            shape = tuple(int(d) for d in options.input_shapes[name])
            if dims is not None and len(dims) != len(shape):
                raise ConversionError(
                    f"{path}: --input-shape {name}={','.join(map(str, shape))} has rank "
                    f"{len(shape)}, but the model declares input {name!r} with rank {len(dims)} "
                    f"{_show(dims)}"
                )
            if any(d < 0 for d in shape):
                raise ConversionError(f"{path}: --input-shape for {name!r} has a negative size")
        elif dims is None or any(not isinstance(d, int) for d in dims):
            dynamic.append(f"  {name}: {_show(dims)}   e.g. {_example(name, dims)}")
            continue
        else:
            shape = tuple(int(d) for d in dims)  # type: ignore[arg-type]
        descs.append(TensorDesc(name, dtype, shape))
    if dynamic:
        raise ConversionError(
            f"{path}: mace-core needs static shapes, and {len(dynamic)} input(s) have dynamic "
            "dimensions:\n" + "\n".join(dynamic) + "\ngive each with --input-shape NAME=DIMS "
            "(one flag per input; ConvertOptions(input_shapes={...}) from Python), using the "
            "sizes you deploy with"
        )
    return descs


def frozen_inputs(inputs: list[onnx.ValueInfoProto], options: ConvertOptions,
                  path: Path) -> dict[str, np.ndarray]:
    """The constants that replace the inputs named in ``options.input_values``.

    Each value takes the input's dtype (``options.input_dtypes`` or the model's) and shape
    (``options.input_shapes`` or the model's static dims), see
    :func:`mace_core.frozen_inputs.frozen_value`.
    """
    by_name = {v.name: v for v in inputs}
    unknown = sorted(set(options.input_values) - set(by_name))
    if unknown:
        raise ConversionError(
            f"{path}: --input-value given for {', '.join(unknown)}, which the model has no "
            f"input of; its inputs are: {', '.join(by_name) or 'none'}"
        )
    values: dict[str, np.ndarray] = {}
    for name, value in options.input_values.items():
        info = by_name[name]
        if not info.type.HasField("tensor_type"):
            raise ConversionError(f"{path}: input {name!r} is not a tensor; it cannot be frozen")
        if name in options.input_dtypes:
            dtype = DType(options.input_dtypes[name])
        else:
            dtype = to_dtype(info.type.tensor_type.elem_type, f"{path}: input {name!r}")
        shape = options.input_shapes.get(name)
        try:
            values[name] = frozen_value(name, value, dtype, model_dims(info), shape)
        except ConversionError as exc:
            raise ConversionError(f"{path}: {exc}") from None
    return values
