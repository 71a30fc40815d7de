"""mace-gpu-opencl: the OpenCL GPU device of mace-core.

Activations live on the device as :class:`GpuTensor` (image2d or buffer storage, fp32 or
fp16), kernels come from ``cl/*.cl`` through a binary cache, local sizes from a tuning file
(:func:`tune_model` writes one), and long kernels are split by a time limit. Nothing here
imports pyopencl until a device is probed or a session is prepared.
"""

from __future__ import annotations

from mace_gpu_opencl.tensor import GpuTensor
from mace_gpu_opencl.tuning import tune_model

__version__ = "0.1.0"

__all__ = ["GpuTensor", "__version__", "tune_model"]
