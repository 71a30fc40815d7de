"""The ``.data`` file: a 64-byte header, then every constant at a 64-byte aligned offset.

Header (little-endian)::

    0   8s   magic b"MACEDATA"
    8   u32  data format version (1)
    12  u32  header size (64)
    16  u64  total file size in bytes
    24  32s  sha256 of the payload (every byte after the header)
    56  8x   zero

The ``.pb`` records the sha256 of the whole file, its size and the payload digest. The
payload digest in both places tells "a ``.data`` of another model" (a consistent file whose
digest differs) from "a damaged ``.data``" (one whose bytes no longer match its own digest).
At load the file is memory-mapped read-only and constants are numpy views over the mapping.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
import struct
from collections.abc import Iterable
from pathlib import Path

import attrs
import numpy as np

from mace_core.dtypes import DType
from mace_core.errors import ModelFormatError
from mace_core.ir import Graph
from mace_core.model_format import mace_model_pb2 as pb
from mace_core.model_format.codec import (
    DTYPE_FROM_PROTO,
    DTYPE_TO_PROTO,
    REINSTALL_HINT,
    little_endian,
)

MAGIC = b"MACEDATA"
DATA_VERSION = 1
HEADER = struct.Struct("<8sIIQ32s8x")
HEADER_SIZE = 64
ALIGN = 64
FP16_MIN_ELEMENTS = 16  # smaller float32 constants stay float32 (scales, biases of 1 element...)
FP16_MAX = 65504.0
PAIR_HINT = "keep the <name>.pb and <name>.data of one conversion together, or " + REINSTALL_HINT

assert HEADER.size == HEADER_SIZE


def short(digest: bytes) -> str:
    """The first 12 hex digits of a digest, as shown in messages."""
    return digest.hex()[:12] if digest else "(none)"


# -- writing -------------------------------------------------------------------------
@attrs.frozen
class DataImage:
    """The planned bytes of a ``.data`` file: header + pieces, and its index for the ``.pb``."""

    header: bytes
    pieces: list[np.ndarray]  # uint8 views of each constant's stored bytes and padding
    constants: list[pb.Constant]
    size: int
    sha256: bytes
    payload_sha256: bytes

    def write_to(self, f) -> None:
        f.write(self.header)
        for piece in self.pieces:
            f.write(piece)


def _fits_fp16(array: np.ndarray) -> bool:
    finite = array[np.isfinite(array)]
    return finite.size == 0 or float(np.max(np.abs(finite))) <= FP16_MAX


def stored_dtype(array: np.ndarray, dtype: DType, weights: str) -> DType:
    """The dtype a constant is written in: float16 for fp16 weights when it is safe."""
    if (weights == "fp16" and dtype is DType.FLOAT32 and array.size >= FP16_MIN_ELEMENTS
            and _fits_fp16(array)):
        return DType.FLOAT16
    return dtype


def plan_data(graph: Graph, weights: str) -> DataImage:
    """Lay out the constants of ``graph`` (in their order) and compute the digests."""
    pieces: list[np.ndarray] = []
    refs: list[pb.Constant] = []
    offset = HEADER_SIZE
    for name, value in graph.constants.items():
        array = np.asarray(value)
        try:
            dtype = DType.from_numpy(array.dtype)
        except TypeError as exc:
            raise ModelFormatError(
                f"cannot save constant {name!r} of graph {graph.name!r}: {exc}"
            ) from None
        stored = stored_dtype(array, dtype, weights)
        data = np.ascontiguousarray(array, dtype=little_endian(stored)).reshape(-1)
        pad = -offset % ALIGN
        if pad:
            pieces.append(np.zeros(pad, np.uint8))
            offset += pad
        refs.append(pb.Constant(
            name=name, dtype=DTYPE_TO_PROTO[dtype], stored_dtype=DTYPE_TO_PROTO[stored],
            shape=[int(d) for d in array.shape], offset=offset, nbytes=data.nbytes,
        ))
        if data.nbytes:
            pieces.append(data.view(np.uint8))
        offset += data.nbytes
    payload = hashlib.sha256()
    for piece in pieces:
        payload.update(piece)
    header = HEADER.pack(MAGIC, DATA_VERSION, HEADER_SIZE, offset, payload.digest())
    whole = hashlib.sha256(header)
    for piece in pieces:
        whole.update(piece)
    return DataImage(header, pieces, refs, offset, whole.digest(), payload.digest())


# -- reading -------------------------------------------------------------------------
def check_regular_file(path: Path, what: str, hint: str) -> int:
    """The size of ``path``; a clear error when it is missing, not a file, or empty."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: {what} not found; {hint}") from None
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelFormatError(f"{path}: the {what} is not a regular file; {hint}")
    if st.st_size == 0:
        raise ModelFormatError(
            f"{path}: the {what} is empty (0 bytes), e.g. an interrupted copy; copy it again "
            f"or {REINSTALL_HINT}"
        )
    return st.st_size


def _sha256(mm: mmap.mmap, start: int = 0) -> bytes:
    """sha256 of ``mm[start:]`` without copying the mapping."""
    with memoryview(mm) as view, view[start:] as part:
        return hashlib.sha256(part).digest()


def _diagnose(mm: mmap.mmap, size: int, model: pb.Model, path: Path,
              hash_payload: bool) -> str | None:
    """Why ``mm`` is not the ``.data`` that ``model`` expects (None when no reason is seen)."""
    if size < HEADER_SIZE:
        return (f"is truncated: {size} bytes, shorter than its {HEADER_SIZE}-byte header "
                f"(the model expects {model.data_size} bytes); {PAIR_HINT}")
    magic, version, header_size, total, digest = HEADER.unpack_from(mm, 0)
    if magic != MAGIC:
        return (f"is not a mace-core weights file (no {MAGIC.decode()} header, or a damaged "
                f"one); {PAIR_HINT}")
    if version != DATA_VERSION or header_size != HEADER_SIZE:
        return (f"has a weights header of format version {version} (header size "
                f"{header_size}); this mace-core reads version {DATA_VERSION}: the file is "
                f"damaged or from a newer mace-core (upgrade mace-core, or {REINSTALL_HINT})")
    expected = model.data_payload_sha256
    if digest != expected:
        actual = _sha256(mm, HEADER_SIZE) if hash_payload else digest
        if actual == digest:
            unsure = "" if hash_payload else " (or its header is damaged)"
            return (f"belongs to another model{unsure}: its weights digest is "
                    f"{short(digest)}, but the .pb expects {short(expected)}; {PAIR_HINT}")
    if size != model.data_size:
        problem = "is truncated" if size < model.data_size else "has extra trailing bytes"
        return (f"{problem}: {size} bytes, the model expects {model.data_size}; copy it "
                f"again or {REINSTALL_HINT}")
    if total != size:
        return f"has a damaged header (records {total} bytes, file has {size}); {REINSTALL_HINT}"
    return None


def map_data(path: Path, model: pb.Model, pb_path: Path, *, verify: bool) -> mmap.mmap:
    """Memory-map the ``.data`` of ``model`` read-only after checking it belongs to it."""
    size = check_regular_file(
        path, f"weights file (needed by {pb_path.name})",
        f"copy it next to {pb_path.name}, or {REINSTALL_HINT}",
    )
    try:
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{path}: cannot map the weights file ({exc})") from None
    problem = _diagnose(mm, size, model, path, hash_payload=verify)
    if problem is None and verify:
        actual = _sha256(mm)
        if actual != model.data_sha256:
            problem = (f"checksum mismatch (sha256 {short(actual)}, the .pb records "
                       f"{short(model.data_sha256)}): the file is damaged; copy it again "
                       f"or {REINSTALL_HINT}")
    if problem is not None:
        mm.close()
        raise ModelFormatError(f"{path}: {problem}")
    return mm


def constant_views(mm: mmap.mmap, refs: Iterable[pb.Constant]) -> dict[str, np.ndarray]:
    """Read-only arrays over ``mm`` (refs already bounds-checked); fp16-stored ones as fp32."""
    result: dict[str, np.ndarray] = {}
    for ref in refs:
        dtype = DTYPE_FROM_PROTO[ref.dtype]
        stored = DTYPE_FROM_PROTO[ref.stored_dtype]
        shape = tuple(ref.shape)
        count = ref.nbytes // stored.itemsize
        if count == 0:
            array = np.zeros(shape, dtype.numpy)
        else:
            array = np.frombuffer(mm, little_endian(stored), count, ref.offset).reshape(shape)
            if stored is not dtype:
                array = array.astype(dtype.numpy)
        array.flags.writeable = False
        result[ref.name] = array
    return result
