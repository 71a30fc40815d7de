"""Writing a model: ``<stem>.data`` then ``<stem>.pb``, atomically.

Both files are written to temporary files in the target directory and fsynced; the ``.data``
is moved into place first, then the ``.pb``. If anything fails, the temporary files are
removed and the previous ``.pb``/``.data`` (if any) are left as they were: the old ``.data``
is kept through a hard link (or a copy) until the new ``.pb`` is in place.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import NamedTuple

from mace_core.errors import ModelFormatError
from mace_core.ir import Graph
from mace_core.model_format import mace_model_pb2 as pb
from mace_core.model_format.codec import encode_node, encode_tensor_desc
from mace_core.model_format.datafile import DataImage, plan_data
from mace_core.model_format.reader import FORMAT_VERSION, PB_MAGIC

WEIGHT_STORAGE = ("fp32", "fp16")


class ModelPaths(NamedTuple):
    """The two files of a saved model."""

    pb: Path
    data: Path


def producer() -> str:
    from mace_core import __version__

    return f"mace-core {__version__}"


def default_stem(name: str) -> str:
    """A file stem from a graph name: unsafe characters replaced by ``_``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "model"


def encode_model(graph: Graph, image: DataImage) -> bytes:
    """The bytes of the ``.pb`` file: a ``ModelFile`` wrapping the serialized ``Model``."""
    model = pb.Model(format_version=FORMAT_VERSION, name=graph.name, producer=producer())
    try:
        for node in graph.nodes:
            encode_node(model.graph.nodes.add(), node)
        for key, desc in graph.tensors.items():
            if key != desc.name:
                raise ModelFormatError(
                    f"cannot save graph {graph.name!r}: the descriptor stored under {key!r} "
                    f"is named {desc.name!r}"
                )
            encode_tensor_desc(model.graph.tensors.add(), desc)
        model.graph.inputs.extend(graph.inputs)
        model.graph.outputs.extend(graph.outputs)
        for key, value in graph.metadata.items():
            model.metadata[key] = value
    except (TypeError, ValueError, UnicodeError) as exc:
        raise ModelFormatError(f"cannot save graph {graph.name!r}: {exc}") from exc
    model.constants.extend(image.constants)
    model.data_sha256 = image.sha256
    model.data_size = image.size
    model.data_payload_sha256 = image.payload_sha256
    body = model.SerializeToString(deterministic=True)
    wrapper = pb.ModelFile(model=body, sha256=hashlib.sha256(body).digest(), magic=PB_MAGIC)
    return wrapper.SerializeToString(deterministic=True)


def _write_temp(target: Path, write) -> Path:
    """Write a new temporary file beside ``target`` with ``write(f)``, fsynced; its path."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _keep_old(path: Path) -> Path | None:
    """A second name for the current ``path`` (hard link, else copy), to restore it."""
    if not path.exists():
        return None
    backup = path.with_name(f".{path.name}.{secrets.token_hex(6)}.old")
    try:
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)
    return backup


def save_model(graph: Graph, out_dir: str | Path, stem: str | None = None, *,
               weights: str = "fp32") -> ModelPaths:
    """Write ``graph`` as ``out_dir/<stem>.pb`` + ``out_dir/<stem>.data``.

    ``stem`` defaults to the graph name. ``weights="fp16"`` stores float32 constants of at
    least 16 elements (whose values fit float16) as float16; they load back as float32.
    """
    if weights not in WEIGHT_STORAGE:
        raise ModelFormatError(f"weights must be one of {WEIGHT_STORAGE}, not {weights!r}")
    stem = default_stem(graph.name) if stem is None else stem
    if not stem or os.sep in stem or "/" in stem or stem in (".", ".."):
        raise ModelFormatError(f"invalid model file stem {stem!r}: give a plain file name")
    out_dir = Path(out_dir)
    paths = ModelPaths(out_dir / f"{stem}.pb", out_dir / f"{stem}.data")
    image = plan_data(graph, weights)
    blob = encode_model(graph, image)
    temps: list[Path] = []
    backup: Path | None = None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        temps.append(_write_temp(paths.data, image.write_to))
        temps.append(_write_temp(paths.pb, lambda f: f.write(blob)))
        backup = _keep_old(paths.data)
        os.replace(temps[0], paths.data)
        try:
            os.replace(temps[1], paths.pb)
        except BaseException:
            if backup is not None:
                os.replace(backup, paths.data)
                backup = None
            else:
                paths.data.unlink(missing_ok=True)
            raise
        _fsync_dir(out_dir)
    except OSError as exc:
        raise ModelFormatError(
            f"{paths.pb}: cannot write the model ({exc}); check that {out_dir} is writable "
            "and has free space (the previous files, if any, are unchanged)"
        ) from exc
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if backup is not None:
            backup.unlink(missing_ok=True)
    return paths
