"""mace-cpu: the ``cpu`` device of mace-core.

fp32 NCHW kernels in C (GEMM with packed panels and per-ISA micro-kernels, convolution,
depthwise, pooling, elementwise, softmax) built with cffi, with a pthread pool. The ISA
is picked when the library loads (AVX-512, AVX2+FMA or portable C on x86-64; NEON on
aarch64); ``MACE_CPU_ISA`` or :func:`set_isa` forces a lower one.
"""

from mace_cpu.native import (
    IsaError,
    NativeUnavailable,
    isa,
    load,
    set_isa,
    supported_isas,
)

__version__ = "0.1.0"

__all__ = [
    "IsaError",
    "NativeUnavailable",
    "__version__",
    "isa",
    "load",
    "set_isa",
    "supported_isas",
]
