"""mace-core plugin (entry point ``cpu`` in group ``mace_core``): the ``cpu`` device and its
kernels. Importing this module never needs the compiled library; a missing or stale build
shows up as the device's DeviceUnavailable reason."""

from __future__ import annotations

from mace_core._hookspecs import hookimpl

from mace_cpu.device import CpuDevice
from mace_cpu.kernels import all_kernels


@hookimpl
def mace_register_devices(register):
    register(CpuDevice())


@hookimpl
def mace_register_kernels(register):
    for spec in all_kernels():
        register(spec)
