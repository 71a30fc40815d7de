"""Local work size tuning: time candidates with profiling events, keep the fastest.

A result is keyed by kernel name, program variant (storage + precision) and global size
(``conv2d@image-fp32:16x8x56``). Tuning files are JSON with one section per device,
keyed by device name and driver version, so one file can serve several devices and a
driver update invalidates old results::

    {"format": "mace-gpu-opencl-tuning/1",
     "devices": {"<device> | <driver>": {"platform": "...", "entries": {key: [l0, l1, l2]
                                                                    or null (driver's)},
                                         "choices": {conv key: [kernel, split]}}}}

``choices`` (optional) holds the algorithm timed for each convolution shape where more
than one applies (implicit GEMM or a Winograd variant, ``kernels/conv_choice.py``).

Sessions load a file with the option ``gpu_tuning_file``; shapes not in it get the
heuristic of :func:`mace_gpu_opencl.launch.heuristic_local`. ``gpu_tuning=True`` tunes
every launch the first time it runs; :func:`tune_model` does that for a model file.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mace_gpu_opencl.launch import heuristic_local

if TYPE_CHECKING:
    from mace_gpu_opencl.device import DeviceInfo

FORMAT = "mace-gpu-opencl-tuning/1"
Local = tuple[int, ...] | None
TimeFn = Callable[[tuple[int, ...], Local], float]


def device_key(info: DeviceInfo) -> str:
    return f"{info.name} | {info.driver}"


def candidates(gws: Sequence[int], max_work_group: int, limit: int,
               max_sizes: Sequence[int] = ()) -> list[Local]:
    """Up to ``limit`` local sizes to try: the driver's choice, then power-of-two shapes
    of 8 to 256 work items that do not exceed the global size, spread over that range."""
    per_dim = []
    for d, g in enumerate(gws):
        cap = min(1 << (max(int(g), 1) - 1).bit_length(), max_sizes[d] if d < len(max_sizes)
                  else 1 << 30)
        per_dim.append([1 << i for i in range(cap.bit_length()) if 1 << i <= cap])
    top = min(max_work_group, 256)
    shapes = [s for s in itertools.product(*per_dim) if 8 <= _prod(s) <= top]
    shapes.sort(key=lambda s: (_prod(s), s))
    found: list[Local] = [None]
    room = max(limit - 1, 0)
    if shapes and room:
        step = max(len(shapes) / room, 1.0)
        picks = {shapes[min(int(i * step), len(shapes) - 1)] for i in range(room)}
        found.extend(sorted(picks, key=lambda s: (_prod(s), s)))
    return found[:max(limit, 1)]


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


class Tuner:
    """The local sizes known for one device: loaded files, this process's tuning runs."""

    def __init__(self, info: DeviceInfo) -> None:
        self.info = info
        self.table: dict[str, Local] = {}
        self.best_ms: dict[str, float] = {}
        self.tuned: set[str] = set()  # keys timed by this process
        self.choices: dict[str, tuple[str, int]] = {}  # conv key -> (kernel, split)
        self.choice_ms: dict[str, float] = {}
        self.runs = 5  # timed runs per candidate (after one warm-up)
        self.budget_ms = 200.0  # stop timing a candidate once its runs add up to this
        self._loaded: dict[str, float] = {}
        self.recording: set[str] | None = None  # keys launched while set (tune_graph)
        self.version = 0  # bumped whenever tuning or a file changes the table

    @staticmethod
    def key(name: str, variant: str, gws: Sequence[int]) -> str:
        return f"{name}@{variant}:" + "x".join(str(int(g)) for g in gws)

    def lookup(self, key: str) -> tuple[bool, Local]:
        if key in self.table:
            return True, self.table[key]
        return False, None

    def heuristic(self, gws: Sequence[int], max_work_group: int) -> Local:
        return heuristic_local(gws, max_work_group, cpu="CPU" in self.info.type.upper())

    def tune(self, key: str, gws: tuple[int, ...], max_work_group: int, time_fn: TimeFn,
             limit: int = 12) -> Local:
        """Time each candidate (1 warm-up + up to ``runs`` runs); keep and return the best."""
        best: tuple[float, Local] | None = None
        for local in candidates(gws, max_work_group, limit, self.info.max_work_item_sizes):
            try:
                time_fn(gws, local)
                times: list[float] = []
                while len(times) < self.runs and sum(times) < self.budget_ms:
                    times.append(time_fn(gws, local))
            except Exception:  # noqa: BLE001 - e.g. CL_OUT_OF_RESOURCES for this local size
                continue
            if best is None or min(times) < best[0]:
                best = (min(times), local)
        if best is None:
            return self.heuristic(gws, max_work_group)
        self.table[key], self.best_ms[key] = best[1], best[0]
        self.tuned.add(key)
        self.version += 1
        return best[1]

    # -- files --------------------------------------------------------------------------
    def load(self, path: str | os.PathLike[str]) -> int:
        """Merge this device's section of a tuning file (once per file version); returns
        the number of entries and choices taken. A file without this device warns and adds
        nothing."""
        path = Path(path)
        stamp = path.stat().st_mtime
        if self._loaded.get(str(path)) == stamp:
            return 0
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a tuning file (format {data.get('format')!r}, "
                             f"expected {FORMAT!r})")
        self._loaded[str(path)] = stamp
        section = data.get("devices", {}).get(device_key(self.info))
        if section is None:
            known = ", ".join(data.get("devices", {})) or "none"
            warnings.warn(f"tuning file {path} has no results for {device_key(self.info)!r} "
                          f"(it has: {known}); using the heuristic local sizes", stacklevel=2)
            return 0
        entries = section.get("entries", {})
        for key, local in entries.items():
            self.table[key] = None if local is None else tuple(int(v) for v in local)
        choices = section.get("choices", {})
        for key, (kernel, split) in choices.items():
            self.choices[key] = (str(kernel), int(split))
        self.version += 1
        return len(entries) + len(choices)

    def save(self, path: str | os.PathLike[str], keys: Sequence[str] | None = None) -> Path:
        """Write (merging into an existing file) this device's results; atomic."""
        path = Path(path)
        data: dict[str, Any] = {"format": FORMAT, "devices": {}}
        if path.exists():
            old = json.loads(path.read_text())
            if old.get("format") == FORMAT:
                data["devices"] = old.get("devices", {})
        chosen = sorted(self.table if keys is None else keys)
        section = data["devices"].setdefault(device_key(self.info), {"entries": {}})
        section["platform"] = self.info.platform
        section["opencl"] = self.info.version
        for key in chosen:
            local = self.table[key]
            section["entries"][key] = None if local is None else list(local)
            if key in self.best_ms:
                section.setdefault("best_ms", {})[key] = round(self.best_ms[key], 4)
        for key, (kernel, split) in sorted(self.choices.items()):
            section.setdefault("choices", {})[key] = [kernel, split]
            if key in self.choice_ms:
                section.setdefault("best_ms", {})[key] = round(self.choice_ms[key], 4)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
        return path


def tune_model(pb_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
               storage: str = "auto", fp16: bool = False, candidates_per_kernel: int = 12,
               seed: int = 0) -> dict[str, Local]:
    """Tune every GPU launch of the model ``pb_path`` (one run on random inputs) and
    write the results to the tuning file ``out_path``; returns key -> local size."""
    from mace_core.runtime.model import load

    model = load(pb_path)
    return tune_graph(model.graph, out_path, storage=storage, fp16=fp16,
                      candidates_per_kernel=candidates_per_kernel, seed=seed,
                      registry=model.registry)


def tune_graph(graph: Any, out_path: str | os.PathLike[str], *, storage: str = "auto",
               fp16: bool = False, candidates_per_kernel: int = 12, seed: int = 0,
               registry: Any = None) -> dict[str, Local]:
    """:func:`tune_model` for a graph in memory."""
    from mace_core.runtime.model import Model
    from mace_gpu_opencl.device import get_runtime

    tuner = get_runtime().tuner
    tuner.recording = set()
    try:
        session = Model(graph, registry=registry).session(
            ["gpu", "reference"], gpu_storage=storage, gpu_fp16_storage=fp16,
            gpu_tuning=candidates_per_kernel)
        session.run(session.random_inputs(seed))
        get_runtime().finish()
        keys = sorted(tuner.recording)
    finally:
        tuner.recording = None
    tuner.save(out_path, keys)
    return {key: tuner.table[key] for key in keys}
