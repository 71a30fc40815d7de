"""Registers the ``gpu`` device (OpenCL) and its kernels.

Loads without pyopencl: the device's probe says what is missing, and kernels touch
OpenCL only when a session prepares them.
"""

from __future__ import annotations

from mace_core._hookspecs import hookimpl
from mace_gpu_opencl.device import OpenCLDevice
from mace_gpu_opencl.kernels import all_kernels


@hookimpl
def mace_register_devices(register):
    register(OpenCLDevice())


@hookimpl
def mace_register_kernels(register):
    for kernel in all_kernels():
        register(kernel)
