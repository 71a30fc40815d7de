"""The ``cpu`` device: what this CPU offers, read from the compiled library and sysfs."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mace_core.ir import Layout
from mace_core.specs import Capabilities, FusedRun

from mace_cpu import native
from mace_cpu.affinity import detect_clusters, format_cpus, policy_cpus
from mace_cpu.native import cpu_features, gemm_tile, isa, supported_isas
from mace_cpu.precision import f16_arith_supported
from mace_cpu.threads import default_threads

DEVICE = "cpu"
SYSFS_CPU = Path("/sys/devices/system/cpu")


def _size_bytes(text: str) -> int:
    """``"32K"`` / ``"1024K"`` / ``"32M"`` as bytes."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def cache_sizes(cpu: int = 0) -> dict[str, int]:
    """Data/unified cache sizes of one CPU from sysfs: ``{"L1": bytes, "L2": ..., "L3": ...}``."""
    sizes: dict[str, int] = {}
    for index in sorted((SYSFS_CPU / f"cpu{cpu}" / "cache").glob("index*")):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            level = f"L{(index / 'level').read_text().strip()}"
            sizes[level] = _size_bytes((index / "size").read_text())
        except (OSError, ValueError):
            continue
    return sizes


def online_cores() -> int:
    """Online logical CPUs of the machine."""
    return os.cpu_count() or 1


class CpuDevice:
    """The host CPU through the mace-cpu C kernels."""

    name = DEVICE

    def probe(self) -> Capabilities:
        chosen = isa()  # raises NativeUnavailable / IsaError, which are DeviceUnavailable
        mr, nr, kc = gemm_tile(chosen)
        caches = cache_sizes()
        clusters = detect_clusters()
        details = {
            "isa": chosen,
            "isas": ", ".join(supported_isas()),
            "features": " ".join(cpu_features()),
            "gemm_tile": f"{mr}x{nr}, kc={kc}",
            "int8_dot": native.int8_description(chosen),
            "fp16_arithmetic": "yes (asimdhp): cpu_precision=float16 runs GEMMs in fp16"
            if f16_arith_supported(chosen) else "no: cpu_precision=float16 runs fp32",
            "cores": online_cores(),
            "threads": default_threads(),
            "clusters": ", ".join(c.describe() for c in clusters),
            "affinity": ", ".join(f"{p} {format_cpus(policy_cpus(p, clusters) or ())}"
                                  for p in ("big", "little")) + ", none, or a CPU list",
            **{f"{level}_cache": size for level, size in caches.items()},
        }
        return Capabilities(
            name=DEVICE,
            kind="cpu",
            description=f"{platform.machine()} CPU, {chosen} kernels (mace-cpu C library)",
            preferred_layout=Layout.NCHW,
            details=details,
        )

    def fuse(self, run: FusedRun) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
        """The partition as one C call over a step list, when every op has a native step
        (see mace_cpu.fused)."""
        from mace_cpu.fused import fuse

        return fuse(run)
