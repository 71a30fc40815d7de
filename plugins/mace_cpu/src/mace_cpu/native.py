"""Loading the compiled kernels and choosing the ISA they run with.

The C library reports its version and which ISAs this CPU supports; the Python side
checks the version at load and picks the ISA: ``set_isa(name)`` (tests), else the
``MACE_CPU_ISA`` environment variable, else the best supported one. An ISA is fixed per
prepared kernel, so changing it affects sessions made afterwards.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from mace_core.errors import DeviceUnavailable

ISA_NAMES = ("scalar", "avx2", "avx512", "neon")  # index = C enum mc_isa_id
ENV_VAR = "MACE_CPU_ISA"
REBUILD = "rebuild it with `pip install -e plugins/mace_cpu` (needs a C compiler and cffi)"


class NativeUnavailable(DeviceUnavailable):
    """The compiled module ``mace_cpu._native`` is missing, broken or of another version."""


class IsaError(DeviceUnavailable, ValueError):
    """An ISA was requested (``MACE_CPU_ISA`` or :func:`set_isa`) that this CPU lacks."""


@functools.lru_cache(maxsize=1)
def load() -> tuple[Any, Any]:
    """``(ffi, lib)`` of the compiled kernels; raises NativeUnavailable saying how to fix."""
    from mace_cpu import __version__

    try:
        from mace_cpu._native import ffi, lib
    except ImportError as exc:
        raise NativeUnavailable(
            f"the compiled kernels (mace_cpu._native) cannot be imported ({exc}); {REBUILD}"
        ) from None
    built = ffi.string(lib.mc_version()).decode()
    if built != __version__:
        raise NativeUnavailable(
            f"the compiled kernels are version {built} but the mace_cpu package is "
            f"{__version__}; {REBUILD}"
        )
    return ffi, lib


def supported_isas() -> list[str]:
    """ISAs this CPU can run, best first (``scalar`` is always last)."""
    _, lib = load()
    order = ("avx512", "avx2", "neon", "scalar")
    return [name for name in order if lib.mc_isa_supported(ISA_NAMES.index(name))]


_override: str | None = None


def set_isa(name: str | None) -> None:
    """Force an ISA for kernels prepared from now on (None: back to the default)."""
    global _override
    if name is not None:
        _check(name, "set_isa")
    _override = name


def _check(name: str, source: str) -> str:
    if name not in ISA_NAMES:
        raise IsaError(f"{source}: unknown ISA {name!r}; choose one of {', '.join(ISA_NAMES)}")
    supported = supported_isas()
    if name not in supported:
        raise IsaError(
            f"{source}: ISA {name!r} is not supported by this CPU (supported: "
            f"{', '.join(supported)})"
        )
    return name


def isa() -> str:
    """The ISA new kernels use: set_isa's, else $MACE_CPU_ISA's, else the best one."""
    if _override is not None:
        return _override
    forced = os.environ.get(ENV_VAR, "").strip()
    if forced:
        return _check(forced, f"{ENV_VAR}={forced}")
    return supported_isas()[0]


def isa_id(name: str | None = None) -> int:
    """The C enum value of ``name`` (default: the current :func:`isa`)."""
    return ISA_NAMES.index(name or isa())


def gemm_tile(name: str | None = None) -> tuple[int, int, int]:
    """``(MR, NR, KC)`` of the GEMM micro-kernel of an ISA."""
    ffi, lib = load()
    mr, nr, kc = ffi.new("int *"), ffi.new("int *"), ffi.new("int *")
    if lib.mc_gemm_tile(isa_id(name), mr, nr, kc) != 0:
        raise IsaError(f"ISA {name or isa()!r} is not usable here")
    return mr[0], nr[0], kc[0]


def cpu_features() -> list[str]:
    """CPU feature flags the library checked at run time."""
    ffi, lib = load()
    return ffi.string(lib.mc_cpu_features()).decode().split()


# The instructions each int8 GEMM path (C enum mc_q8_path) multiplies with.
INT8_INSTRUCTIONS = {"scalar": "C", "avx2": "vpmaddwd on int16", "avx512vnni": "vpdpbusd",
                     "neon": "smull/sadalp", "neondot": "sdot"}


def int8_path(name: str | None = None) -> str:
    """The int8 GEMM path an ISA (default: the current one) runs on this CPU."""
    ffi, lib = load()
    return ffi.string(lib.mc_q8_path_name(lib.mc_q8_path_for(isa_id(name)))).decode()


def int8_description(name: str | None = None) -> str:
    """``"path (instruction)"`` of the int8 GEMM an ISA runs here, for ``mace devices``."""
    path = int8_path(name)
    return f"{path} ({INT8_INSTRUCTIONS[path]})"
