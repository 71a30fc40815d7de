"""The OpenCL device: choosing a platform and device, probing it, and the process runtime.

``MACE_GPU_PLATFORM`` and ``MACE_GPU_DEVICE`` pick a platform / device by index or by a
case-insensitive part of its name. Without them the first GPU-type device wins, else the
first device of any type (e.g. PoCL's CPU device, which runs the same kernels).

pyopencl is imported only when the device is probed or used, so this module (and the
plugin) load without it and ``mace devices`` can say what is missing.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from typing import Any

import attrs
import numpy as np

from mace_core.errors import DeviceUnavailable
from mace_core.ir import Layout
from mace_core.specs import Capabilities

DEVICE = "gpu"
ENV_PLATFORM = "MACE_GPU_PLATFORM"
ENV_DEVICE = "MACE_GPU_DEVICE"
INSTALL_HINT = (
    "install an OpenCL driver (a GPU vendor's, or `apt-get install pocl-opencl-icd` for "
    "the PoCL CPU implementation)"
)


def import_cl() -> Any:
    """The pyopencl module, or DeviceUnavailable saying how to install it."""
    try:
        import pyopencl
    except ImportError as exc:
        raise DeviceUnavailable(
            f"pyopencl is not installed ({exc}); `pip install pyopencl`, then {INSTALL_HINT}"
        ) from None
    return pyopencl


@attrs.frozen
class DeviceInfo:
    """What the OpenCL device reports, as plain values."""

    platform: str
    platform_version: str
    vendor: str
    name: str
    type: str
    version: str
    driver: str
    compute_units: int
    max_work_group_size: int
    max_work_item_sizes: tuple[int, ...]
    global_mem: int
    local_mem: int
    max_alloc: int
    image_support: bool
    image2d_max: tuple[int, int]
    fp16: bool  # cl_khr_fp16: half arithmetic (storage as half works without it)
    float_images: bool  # RGBA FLOAT images usable read/write
    half_images: bool  # RGBA HALF_FLOAT images usable read/write
    base_align: int = 128  # bytes: sub-buffer origins must be multiples of this

    @property
    def nvidia(self) -> bool:
        """An NVIDIA device or platform (where the storage and memory defaults differ)."""
        return "NVIDIA" in f"{self.platform} {self.vendor}".upper()

    @property
    def identity(self) -> str:
        """What a compiled binary or a tuning result is valid for."""
        return f"{self.platform}|{self.name}|{self.version}|{self.driver}"

    def details(self) -> dict[str, Any]:
        return {
            "platform": f"{self.platform} ({self.platform_version})",
            "vendor": self.vendor,
            "device": self.name,
            "type": self.type,
            "opencl": self.version,
            "driver": self.driver,
            "compute_units": self.compute_units,
            "max_work_group_size": self.max_work_group_size,
            "global_mem_mb": self.global_mem // (1 << 20),
            "local_mem_kb": self.local_mem // 1024,
            "max_alloc_mb": self.max_alloc // (1 << 20),
            "images": self.image_support,
            "image2d_max": f"{self.image2d_max[0]}x{self.image2d_max[1]}",
            "half_images": self.half_images,
            "cl_khr_fp16": self.fp16,
        }


def _image_formats(cl: Any, ctx: Any) -> tuple[bool, bool]:
    try:
        formats = cl.get_supported_image_formats(
            ctx, cl.mem_flags.READ_WRITE, cl.mem_object_type.IMAGE2D
        )
    except cl.Error:
        return False, False
    have = {(f.channel_order, f.channel_data_type) for f in formats}
    rgba = cl.channel_order.RGBA
    return (rgba, cl.channel_type.FLOAT) in have, (rgba, cl.channel_type.HALF_FLOAT) in have


def describe(cl: Any, device: Any, ctx: Any | None = None) -> DeviceInfo:
    """A DeviceInfo for a pyopencl device (image formats need a context)."""
    images = bool(device.image_support)
    float_images = half_images = False
    if images and ctx is not None:
        float_images, half_images = _image_formats(cl, ctx)
    return DeviceInfo(
        platform=device.platform.name.strip(),
        platform_version=device.platform.version.strip(),
        vendor=device.vendor.strip(),
        name=device.name.strip(),
        type=cl.device_type.to_string(device.type),
        version=device.version.strip(),
        driver=device.driver_version.strip(),
        compute_units=int(device.max_compute_units),
        max_work_group_size=int(device.max_work_group_size),
        max_work_item_sizes=tuple(int(s) for s in device.max_work_item_sizes),
        global_mem=int(device.global_mem_size),
        local_mem=int(device.local_mem_size),
        max_alloc=int(device.max_mem_alloc_size),
        image_support=images,
        image2d_max=(int(device.image2d_max_width), int(device.image2d_max_height))
        if images else (0, 0),
        fp16="cl_khr_fp16" in device.extensions.split(),
        float_images=float_images,
        half_images=half_images,
        base_align=max(int(device.mem_base_addr_align) // 8, 1),
    )


def _pick(items: list[Any], wanted: str, what: str, var: str) -> Any:
    """The item whose index is ``wanted``, or whose name contains it (case-insensitive)."""
    names = [getattr(it, "name", str(it)).strip() for it in items]
    if wanted.isdigit():
        index = int(wanted)
        if index < len(items):
            return items[index]
    else:
        for item, name in zip(items, names, strict=False):
            if wanted.lower() in name.lower():
                return item
    listed = ", ".join(f"{i}: {n}" for i, n in enumerate(names)) or "none"
    raise DeviceUnavailable(f"{var}={wanted!r} matches no OpenCL {what} (available: {listed})")


def _pocl_installed() -> bool:
    """Whether an ICD file of the OpenCL loader names PoCL."""
    vendors = os.environ.get("OCL_ICD_VENDORS", "/etc/OpenCL/vendors")
    try:
        files = [vendors] if os.path.isfile(vendors) else [
            os.path.join(vendors, f) for f in os.listdir(vendors)]
        return any("pocl" in open(f).read().lower() for f in files if f.endswith(".icd"))
    except OSError:
        return False


def check_loaded_libraries() -> None:
    """Refuse, with the way out, a combination that would crash the process: TensorFlow
    loads its own LLVM into the global symbol namespace, and PoCL's LLVM then resolves to it
    and segfaults on the first platform query."""
    if "tensorflow" in sys.modules and _pocl_installed():
        raise DeviceUnavailable(
            "TensorFlow was imported before OpenCL was initialized; PoCL would crash on "
            "TensorFlow's LLVM symbols. Use the GPU device first (create the session before "
            "importing tensorflow), or convert TensorFlow models in a separate process "
            "(`mace convert` does)"
        )


def select_device(cl: Any) -> Any:
    """The pyopencl device chosen by the environment or by preference (GPU first)."""
    check_loaded_libraries()
    try:
        platforms = cl.get_platforms()
    except cl.Error as exc:
        raise DeviceUnavailable(f"no OpenCL platform found ({exc}); {INSTALL_HINT}") from None
    if not platforms:
        raise DeviceUnavailable(f"no OpenCL platform found; {INSTALL_HINT}")
    want_platform = os.environ.get(ENV_PLATFORM, "").strip()
    want_device = os.environ.get(ENV_DEVICE, "").strip()
    if want_platform:
        platforms = [_pick(platforms, want_platform, "platform", ENV_PLATFORM)]
    devices: list[Any] = []
    for platform in platforms:
        try:
            devices.extend(platform.get_devices())
        except cl.Error:
            continue  # a platform with no devices reports DEVICE_NOT_FOUND
    if not devices:
        names = ", ".join(p.name.strip() for p in platforms)
        raise DeviceUnavailable(f"OpenCL platform(s) {names} have no device; {INSTALL_HINT}")
    if want_device:
        return _pick(devices, want_device, "device", ENV_DEVICE)
    gpus = [d for d in devices if d.type & cl.device_type.GPU]
    return (gpus or devices)[0]


class GpuRuntime:
    """One OpenCL context for the process, with the program cache and the tuner shared by
    every session, and two in-order queues: a plain one, and one with profiling for the
    launches that are timed (tuning, splitting, traces). ``queue`` is the one in use;
    :meth:`use_queue` switches after the other has finished, so order is kept."""

    def __init__(self, cl: Any, device: Any) -> None:
        from mace_gpu_opencl.programs import ProgramCache
        from mace_gpu_opencl.rawcl import make_raw
        from mace_gpu_opencl.tuning import Tuner

        self.cl = cl
        self.device = device
        self.context = cl.Context([device])
        self.profiling_queue = cl.CommandQueue(
            self.context, device, properties=cl.command_queue_properties.PROFILING_ENABLE
        )
        self.plain_queue = cl.CommandQueue(self.context, device)
        self.queue = self.plain_queue
        self.queue_ptr = self.queue.int_ptr
        # every launch on the profiling queue (MACE_GPU_PROFILE_ALL=1)
        self.profile_all = os.environ.get("MACE_GPU_PROFILE_ALL", "0") == "1"
        self.raw = make_raw(cl)  # event-less enqueues on the plain queue (None: pyopencl's)
        self.info = describe(cl, device, self.context)
        self.programs = ProgramCache(self)
        self.tuner = Tuner(self.info)
        self.transfers: Counter[str] = Counter()  # host<->device copies and conversions
        self.trace: list[Any] | None = None  # a list collects every launch (LaunchRecord)
        # flush the queue every this many launches, or when this many seconds passed since
        # the last flush (0: never; the driver submits on its own)
        self.flush_every = int(os.environ.get("MACE_GPU_FLUSH_EVERY", "0") or 0)
        self.flush_interval = float(os.environ.get("MACE_GPU_FLUSH_US", "0") or 0) * 1e-6
        self.launches = 0
        self.last_flush = 0.0

    def use_queue(self, profiling: bool) -> Any:
        """The queue for the next command: the profiling one when asked (or always with
        ``profile_all``), else the plain one; switching waits for the other to finish."""
        want = self.profiling_queue if profiling or self.profile_all else self.plain_queue
        if want is not self.queue:
            self.queue.finish()
            self.queue = want
            self.queue_ptr = want.int_ptr
        return want

    def finish(self) -> None:
        self.queue.finish()


_LOCK = threading.Lock()
_RUNTIMES: dict[tuple[str, str], GpuRuntime] = {}


def get_runtime() -> GpuRuntime:
    """The runtime of the selected device (created once per process and selection)."""
    key = (os.environ.get(ENV_PLATFORM, ""), os.environ.get(ENV_DEVICE, ""))
    with _LOCK:
        if key not in _RUNTIMES:
            cl = import_cl()
            device = select_device(cl)
            try:
                _RUNTIMES[key] = GpuRuntime(cl, device)
            except cl.Error as exc:
                raise DeviceUnavailable(
                    f"cannot create an OpenCL context on {device.name.strip()!r}: {exc}"
                ) from None
        return _RUNTIMES[key]


class OpenCLDevice:
    """The ``gpu`` device: OpenCL kernels with image2d or buffer storage."""

    name = DEVICE

    def probe(self) -> Capabilities:
        runtime = get_runtime()
        info = runtime.info
        storage = "image2d + buffer" if info.float_images else "buffer only (no RGBA images)"
        from mace_gpu_opencl.kernels import winograd

        details = info.details()
        details["tensor_cores"] = (
            "mma.sync TF32 in the Winograd 3x3 kernels (3 products a step: fp32 accuracy)"
            if winograd.tensor_cores(runtime)
            else "not used (NVIDIA GPUs of compute capability 8.0 or later only)")
        return Capabilities(
            name=DEVICE,
            kind="gpu",
            description=f"OpenCL {info.name} ({info.type}, {info.platform}, driver "
            f"{info.driver}); storage {storage}",
            preferred_layout=Layout.IMAGE_NHWC4 if info.float_images else Layout.NHWC,
            details=details,
        )

    def to_host(self, value) -> np.ndarray:
        """Download a GpuTensor (what GPU kernels return) as an NCHW numpy array."""
        return np.asarray(value)

    def synchronize(self) -> None:
        """Wait for every queued kernel (profiled op times then include the GPU work)."""
        get_runtime().queue.finish()
