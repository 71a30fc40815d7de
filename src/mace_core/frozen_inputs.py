"""Frozen inputs: model inputs given a fixed value at conversion time.

``ConvertOptions.input_values`` (``mace convert --input-value NAME=VALUE``) turns a model
input into a constant of the graph: the converted model no longer takes it, and everything
computed from it (a sample-rate switch, the condition of an ``If``) folds away. Frontends
shape the given value with :func:`frozen_value` and record what they froze in the graph
metadata (:func:`encode_metadata`), so ``mace validate`` can still feed the source model,
which takes every input, the same values (:func:`decode_metadata`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np

from mace_core.dtypes import INTEGER_TYPES, DType
from mace_core.errors import ConversionError, ModelFormatError

METADATA_KEY = "frozen_inputs"


def frozen_value(name: str, value: np.ndarray, dtype: DType,
                 declared: Sequence[int | str] | None,
                 shape: Sequence[int] | None = None) -> np.ndarray:
    """``value`` as the constant that replaces input ``name``.

    It is cast to the input's ``dtype`` (integer and bool inputs take only values they can
    hold exactly) and given the input's shape: ``shape`` (from ``--input-shape``) or the
    model's ``declared`` dims when they are all static; with dynamic dims, the value's own
    shape, which must then have the declared rank.
    """
    array = np.asarray(value)
    cast = array.astype(dtype.numpy)
    if (dtype in INTEGER_TYPES or dtype == DType.BOOL) and not np.array_equal(
            cast.astype(np.float64), array.astype(np.float64)):
        raise ConversionError(
            f"--input-value {name}: {_show(array)} cannot be held exactly by the input's "
            f"dtype {dtype}"
        )
    target = tuple(shape) if shape is not None else None
    if target is None and declared is not None and all(isinstance(d, int) for d in declared):
        target = tuple(int(d) for d in declared)  # type: ignore[arg-type]
    if target is not None:
        if cast.size != math.prod(target):
            raise ConversionError(
                f"--input-value {name}: got {cast.size} value(s), but input {name!r} has "
                f"shape {list(target)} ({math.prod(target)} elements)"
            )
        return np.asarray(cast.reshape(target), order="C")
    if declared is not None and cast.ndim != len(declared):
        raise ConversionError(
            f"--input-value {name}: the value has rank {cast.ndim}, but input {name!r} is "
            f"declared with rank {len(declared)} {list(declared)}; also give its shape with "
            f"--input-shape {name}=DIMS"
        )
    return np.asarray(cast, order="C")


def _show(array: np.ndarray) -> str:
    return str(array.tolist()) if array.size <= 8 else f"an array of shape {list(array.shape)}"


def encode_metadata(values: Mapping[str, np.ndarray]) -> str:
    """The metadata value recording the frozen inputs: JSON name -> dtype, shape, values."""
    return json.dumps({
        name: {"dtype": str(DType.from_numpy(v.dtype)), "shape": list(v.shape),
               "values": v.reshape(-1).tolist()}
        for name, v in values.items()
    }, sort_keys=True)


def decode_metadata(metadata: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The frozen inputs a converted model records (empty when it froze none)."""
    text = metadata.get(METADATA_KEY)
    if not text:
        return {}
    try:
        records = json.loads(text)
        return {
            name: np.array(r["values"], dtype=DType(r["dtype"]).numpy).reshape(r["shape"])
            for name, r in records.items()
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFormatError(
            f"the model's {METADATA_KEY!r} metadata is unreadable ({type(exc).__name__}: "
            f"{exc}); reconvert with `mace convert`"
        ) from None
