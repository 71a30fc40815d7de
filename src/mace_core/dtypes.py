"""Element types of tensors, and their numpy equivalents."""

from __future__ import annotations

import enum

import numpy as np


class DType(str, enum.Enum):
    """Tensor element type. The value is the canonical lower-case name."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    INT8 = "int8"
    UINT8 = "uint8"
    INT32 = "int32"
    INT64 = "int64"
    BOOL = "bool"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @classmethod
    def from_numpy(cls, dtype: np.dtype | type | str) -> DType:
        name = np.dtype(dtype).name
        try:
            return cls(name)
        except ValueError:
            allowed = ", ".join(d.value for d in cls)
            raise TypeError(f"unsupported element type {name!r}; supported: {allowed}") from None

    def __str__(self) -> str:
        return self.value


FLOAT_TYPES = frozenset({DType.FLOAT32, DType.FLOAT16})
INTEGER_TYPES = frozenset({DType.INT8, DType.UINT8, DType.INT32, DType.INT64})
