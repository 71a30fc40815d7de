"""Helpers shared by the CLI subcommands: progress lines, shape and value parsing, npz I/O."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mace_core.errors import InputError, MaceError


class Progress:
    """Numbered progress lines on stderr: ``[2/4] optimizing ... 0.8 s``."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.total, self.quiet, self.step = total, quiet, 0
        self._start = time.perf_counter()

    def __call__(self, message: str) -> None:
        self.step += 1
        if not self.quiet:
            elapsed = time.perf_counter() - self._start
            print(f"[{self.step}/{self.total}] {message} (t={elapsed:.1f}s)", file=sys.stderr,
                  flush=True)


def parse_input_shapes(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    """``["x=1,3,224,224"]`` -> ``{"x": (1, 3, 224, 224)}``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or ():
        name, sep, dims = item.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
            if any(d <= 0 for d in shape):
                raise ValueError
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--input-shape {item!r}: expected NAME=DIMS with positive integers, "
                "e.g. --input-shape input=1,3,224,224"
            ) from None
        shapes[name] = shape
    return shapes


def _number(text: str) -> int | float | bool:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(lowered)
    except ValueError:
        return float(lowered)


def parse_input_values(items: Sequence[str] | None) -> dict[str, np.ndarray]:
    """``["sr=16000", "w=0.5,1,2"]`` -> ``{"sr": array(16000), "w": array([0.5, 1., 2.])}``.

    A single number gives a 0-d array, a comma list a 1-D one; the converter casts the value
    to the input's dtype and shape.
    """
    values: dict[str, np.ndarray] = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            numbers = [_number(t) for t in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--input-value {item!r}: expected NAME=VALUE with a number or a comma list of "
                "numbers, e.g. --input-value sr=16000"
            ) from None
        values[name.strip()] = np.array(numbers[0] if len(numbers) == 1 else numbers)
    return values


def load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise InputError(f"inputs file {path} does not exist") from None
    except Exception as exc:
        raise InputError(
            f"cannot read inputs file {path} as .npz ({type(exc).__name__}: {exc}); save inputs "
            "with numpy.savez(path, **{input_name: array})"
        ) from None


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically: a partial file never replaces a good one."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def split_devices(text: str | None) -> list[str] | None:
    """``"cpu,reference"`` -> ``["cpu", "reference"]``; None (no --device) stays None: the
    model's default (its deployment file's runtime, else cpu, reference)."""
    if text is None:
        return None
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise MaceError("--device needs at least one device name, e.g. --device cpu,reference")
    return devices


def summarize(name: str, value: np.ndarray) -> str:
    if value.size and value.dtype.kind in "fiub":
        v = value.astype(np.float64)
        stats = f"min {v.min():.6g}  max {v.max():.6g}  mean {v.mean():.6g}"
    else:
        stats = "(empty)"
    return f"  {name}: {value.dtype}{list(value.shape)}  {stats}"


def add_device_options(p: argparse.ArgumentParser) -> None:
    """Session options of the device plugins, shared by run / validate / benchmark."""
    g = p.add_argument_group("device options")
    g.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads (default: all cores, or the cores of --cpu-affinity)")
    g.add_argument("--cpu-affinity", metavar="POLICY",
                   help="pin the CPU threads: none (default), big, little, or a CPU list such "
                   "as 4-7 (`mace devices` shows the clusters)")
    g.add_argument("--cpu-linger-us", type=int, metavar="US",
                   help="how long CPU workers keep spinning after a parallel run (default "
                   "1000; 0 saves power, for about 1%% of speed)")
    g.add_argument("--cpu-weight-dtype", choices=["float32", "float16"],
                   help="CPU weights of Gemm/MatMul/Conv kept as fp16 (half the memory, fp32 "
                   "arithmetic); default float32, float16 for models converted with "
                   "--weights fp16")
    g.add_argument("--cpu-precision", choices=["float32", "float16"],
                   help="CPU arithmetic of the GEMM convs and constant-weight Gemm/MatMul: "
                   "float16 uses fp16 FMLA on aarch64 CPUs with asimdhp (`mace devices` "
                   "says), fp32 elsewhere; default float32")
    g.add_argument("--cpu-no-fuse-blocks", action="store_true",
                   help="run MobileNetV2-style blocks (1x1 expand, 3x3 depthwise, 1x1 project) "
                   "as three CPU ops, not as one (profiles then time each conv)")
    g.add_argument("--gpu-storage", choices=["auto", "image", "buffer"],
                   help="GPU tensor storage (default auto: buffer on NVIDIA, image2d on other "
                   "GPUs)")
    g.add_argument("--gpu-fp16", action="store_true", help="store GPU tensors as fp16")
    g.add_argument("--gpu-kernel-time-limit-ms", type=float, metavar="MS",
                   help="split GPU kernels that run longer than this (keeps the UI smooth)")
    g.add_argument("--gpu-tuning-file", type=Path, metavar="FILE",
                   help="tuning file written by `mace tune`")


def device_options(args: argparse.Namespace) -> dict:
    """The session keyword options given on the command line."""
    options = {
        "cpu_threads": args.threads,
        "cpu_affinity": args.cpu_affinity,
        "cpu_weight_dtype": args.cpu_weight_dtype,
        "cpu_linger_us": args.cpu_linger_us,
        "cpu_precision": args.cpu_precision,
        "cpu_fuse_blocks": False if args.cpu_no_fuse_blocks else None,
        "gpu_storage": args.gpu_storage,
        "gpu_fp16_storage": args.gpu_fp16 or None,
        "gpu_kernel_time_limit_ms": args.gpu_kernel_time_limit_ms,
        "gpu_tuning_file": str(args.gpu_tuning_file) if args.gpu_tuning_file else None,
    }
    return {k: v for k, v in options.items() if v is not None}
