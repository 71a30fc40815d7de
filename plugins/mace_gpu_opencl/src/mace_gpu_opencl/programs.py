"""OpenCL programs: sources from package data, built once, cached in memory and on disk.

A program is one ``cl/<family>.cl`` file behind the shared ``cl/common.h`` prelude, built
with ``-D`` options for the storage (image2d / buffer) and the storage precision
(fp32 / fp16). Lookup order: memory -> disk binary -> source. Disk entries live in
``$MACE_CACHE_DIR/opencl`` (or ``~/.cache/mace-core/opencl``), keyed by device identity
(platform, device, OpenCL version, driver version), source hash and build options. An entry
that is corrupt, truncated or refused by the driver is rebuilt from source and rewritten;
the disk cache never makes a build fail.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mace_gpu_opencl.device import GpuRuntime

MAGIC = b"MACECLB1"
BASE_OPTIONS = "-cl-mad-enable"


def cache_dir() -> Path:
    """Where program binaries are kept: ``$MACE_CACHE_DIR/opencl`` or the user cache."""
    env = os.environ.get("MACE_CACHE_DIR")
    base = Path(env) if env else Path.home() / ".cache" / "mace-core"
    return base / "opencl"


def source(family: str) -> str:
    """The full source of one program: the prelude then ``cl/<family>.cl``."""
    pkg = resources.files("mace_gpu_opencl") / "cl"
    return (pkg / "common.h").read_text() + "\n" + (pkg / f"{family}.cl").read_text()


def build_options(storage: str, half: bool) -> str:
    parts = [BASE_OPTIONS]
    if storage == "image":
        parts.append("-DSTORAGE_IMAGE=1")
    if half:
        parts.append("-DSTORAGE_HALF=1")
    return " ".join(parts)


def _pack(payload: bytes) -> bytes:
    return MAGIC + hashlib.sha256(payload).digest() + payload


def _unpack(blob: bytes) -> bytes | None:
    """The payload of a cache file, or None when it is not intact."""
    head = len(MAGIC) + 32
    if len(blob) <= head or not blob.startswith(MAGIC):
        return None
    payload = blob[head:]
    return payload if hashlib.sha256(payload).digest() == blob[len(MAGIC):head] else None


class ProgramCache:
    """Built programs of one runtime. ``stats`` counts where each lookup was served from:
    ``memory``, ``disk``, ``source``, and ``rejected`` disk entries (rebuilt)."""

    def __init__(self, runtime: GpuRuntime) -> None:
        self.runtime = runtime
        self._memory: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    def key(self, src: str, options: str) -> str:
        src_hash = hashlib.sha256(src.encode()).hexdigest()
        text = "\n".join([self.runtime.info.identity, src_hash, options])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def path(self, family: str, options: str) -> Path:
        return cache_dir() / f"{family}-{self.key(source(family), options)}.bin"

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()

    def get(self, family: str, storage: str, half: bool, defines: str = "") -> Any:
        """The built program of ``family`` for this storage and precision (``defines``:
        more ``-D`` options, e.g. device features a family probes for)."""
        options = f"{build_options(storage, half)} {defines}".strip()
        src = source(family)
        key = self.key(src, options)
        with self._lock:
            program = self._memory.get(key)
            if program is not None:
                self.stats["memory"] += 1
                return program
            path = cache_dir() / f"{family}-{key}.bin"
            program = self._from_disk(path, options)
            if program is None:
                program = self._from_source(family, src, options)
                self._save(path, program)
            self._memory[key] = program
            return program

    # -- layers -----------------------------------------------------------------------
    def _from_disk(self, path: Path, options: str) -> Any | None:
        cl = self.runtime.cl
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        payload = _unpack(blob)
        if payload is None:
            self.stats["rejected"] += 1
            return None
        try:
            program = cl.Program(self.runtime.context, [self.runtime.device], [payload])
            program.build(options=options)
        except cl.Error:
            self.stats["rejected"] += 1
            return None
        self.stats["disk"] += 1
        return program

    def _from_source(self, family: str, src: str, options: str) -> Any:
        cl = self.runtime.cl
        program = cl.Program(self.runtime.context, src)
        try:
            program.build(options=options, devices=[self.runtime.device])
        except cl.RuntimeError as exc:
            raise RuntimeError(
                f"OpenCL program {family!r} ({options}) failed to build on "
                f"{self.runtime.info.name}: {exc}"
            ) from None
        self.stats["source"] += 1
        return program

    def _save(self, path: Path, program: Any) -> None:
        """Write the binary atomically; an unwritable cache only costs the next build."""
        try:
            binaries = program.binaries
            if len(binaries) != 1 or not binaries[0]:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(_pack(bytes(binaries[0])))
            os.replace(tmp, path)
        except OSError:
            return
