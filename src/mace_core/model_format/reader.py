"""Reading a model: ``<name>.pb`` checked and decoded, ``<name>.data`` mapped beside it.

Every problem is a :class:`ModelFormatError` that names the file, says what is wrong and how
to get out of it. Nothing read from a file is trusted: sizes, offsets and enum codes are
checked before they are used.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from google.protobuf.message import DecodeError

from mace_core.dtypes import DType
from mace_core.errors import ModelFormatError
from mace_core.ir import Graph
from mace_core.model_format import mace_model_pb2 as pb
from mace_core.model_format.codec import (
    REINSTALL_HINT,
    decode_dtype,
    decode_node,
    decode_tensor_desc,
)
from mace_core.model_format.datafile import (
    ALIGN,
    HEADER_SIZE,
    check_regular_file,
    constant_views,
    map_data,
    short,
)

FORMAT_VERSION = 1
PB_MAGIC = "mace-core/model"
DAMAGED_HINT = "copy it again or " + REINSTALL_HINT
CONVERT_HINT = "if it is a source model (ONNX, TensorFlow, TFLite), convert it with `mace convert`"


def data_path_for(pb_path: Path) -> Path:
    """``dir/<stem>.data`` for ``dir/<stem>.pb``."""
    name = pb_path.name[:-3] if pb_path.name.endswith(".pb") else pb_path.name
    return pb_path.with_name(name + ".data")


def read_model_file(pb_path: Path) -> tuple[pb.Model, int]:
    """The checked ``Model`` message of a ``.pb`` file and the file's size."""
    check_regular_file(pb_path, "model file", "check the path (a model is a <name>.pb file "
                       "written by `mace convert`, with <name>.data beside it)")
    try:
        blob = pb_path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"{pb_path}: cannot read the model file ({exc.strerror})") from None
    if not blob:
        raise ModelFormatError(f"{pb_path}: the model file is empty; {REINSTALL_HINT}")
    try:
        wrapper = pb.ModelFile.FromString(blob)
    except DecodeError as exc:
        raise ModelFormatError(
            f"{pb_path}: not a readable mace-core model ({exc}): the file is truncated, "
            f"damaged or of another kind; {CONVERT_HINT}, else {DAMAGED_HINT}"
        ) from None
    if wrapper.magic != PB_MAGIC:
        if wrapper.model and not wrapper.magic:
            problem = f"is truncated (its trailer is missing); {DAMAGED_HINT}"
        else:
            problem = (f"is not a mace-core model (no {PB_MAGIC!r} magic, or a damaged one); "
                       f"{CONVERT_HINT}, else {DAMAGED_HINT}")
        raise ModelFormatError(f"{pb_path}: {problem}")
    digest = hashlib.sha256(wrapper.model).digest()
    if digest != wrapper.sha256:
        raise ModelFormatError(
            f"{pb_path}: checksum mismatch (sha256 {short(digest)}, recorded "
            f"{short(wrapper.sha256)}): the file is damaged; {DAMAGED_HINT}"
        )
    try:
        model = pb.Model.FromString(wrapper.model)
    except DecodeError as exc:
        raise ModelFormatError(
            f"{pb_path}: the model record cannot be parsed ({exc}); {REINSTALL_HINT}"
        ) from None
    if model.format_version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{pb_path}: model format version {model.format_version} is newer than this "
            f"mace-core reads ({FORMAT_VERSION}; written by {model.producer or 'unknown'}); "
            "upgrade mace-core, or convert the model with this version"
        )
    if model.format_version < 1:
        raise ModelFormatError(
            f"{pb_path}: the model has no format version; it was not written by mace-core: "
            f"{REINSTALL_HINT}"
        )
    return model, len(blob)


def check_constants(model: pb.Model, pb_path: Path) -> None:
    """Check each constant's dtypes, size and place in the ``.data`` file (no overlaps)."""
    seen: set[str] = set()
    spans: list[tuple[int, int, str]] = []
    size = model.data_size
    for ref in model.constants:
        what = f"constant {ref.name!r}"
        if ref.name in seen:
            raise ModelFormatError(f"{pb_path}: {what} is stored twice; {REINSTALL_HINT}")
        seen.add(ref.name)
        dtype = decode_dtype(ref.dtype, pb_path, what)
        stored = decode_dtype(ref.stored_dtype, pb_path, f"{what} (stored)")
        if stored is not dtype and (dtype, stored) != (DType.FLOAT32, DType.FLOAT16):
            raise ModelFormatError(
                f"{pb_path}: {what} is {dtype} stored as {stored}, which mace-core cannot "
                f"convert; {REINSTALL_HINT}"
            )
        shape = tuple(ref.shape)
        if any(d < 0 for d in shape) or math.prod(shape) * stored.itemsize != ref.nbytes:
            raise ModelFormatError(
                f"{pb_path}: {what} has {ref.nbytes} bytes, which does not match its shape "
                f"{list(shape)} of {stored}; the file is damaged: {REINSTALL_HINT}"
            )
        end = ref.offset + ref.nbytes
        if ref.offset % ALIGN or ref.offset < HEADER_SIZE or end > size:
            raise ModelFormatError(
                f"{pb_path}: {what} lies at bytes {ref.offset}..{end} of the .data, outside "
                f"its {size} bytes or not {ALIGN}-byte aligned; the file is damaged: "
                f"{REINSTALL_HINT}"
            )
        if ref.nbytes:
            spans.append((ref.offset, end, ref.name))
    spans.sort()
    for (_, end, name), (start, _, other) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise ModelFormatError(
                f"{pb_path}: constants {name!r} and {other!r} overlap in the .data; "
                f"the file is damaged: {REINSTALL_HINT}"
            )


def decode_graph(model: pb.Model, pb_path: Path) -> Graph:
    """The graph of ``model`` without its constant values."""
    graph = Graph(
        name=model.name,
        nodes=[decode_node(n, pb_path) for n in model.graph.nodes],
        inputs=list(model.graph.inputs),
        outputs=list(model.graph.outputs),
        metadata=dict(sorted(model.metadata.items())),
    )
    for msg in model.graph.tensors:
        graph.tensors[msg.name] = decode_tensor_desc(msg, pb_path)
    return graph


def load_graph(pb_path: str | Path, *, verify: bool = True) -> Graph:
    """Load ``<stem>.pb`` and the ``<stem>.data`` beside it into a :class:`Graph`.

    The ``.pb`` checksum is always checked; ``verify`` also hashes the whole ``.data``
    (without it, sizes, header, digests recorded in the header, offsets and bounds are still
    checked). Constants are read-only arrays over a read-only memory map of the ``.data``;
    float32 constants stored as float16 are converted back to float32 arrays.
    """
    pb_path = Path(pb_path)
    model, _ = read_model_file(pb_path)
    check_constants(model, pb_path)
    graph = decode_graph(model, pb_path)
    mm = map_data(data_path_for(pb_path), model, pb_path, verify=verify)
    graph.constants = constant_views(mm, model.constants)
    return graph
