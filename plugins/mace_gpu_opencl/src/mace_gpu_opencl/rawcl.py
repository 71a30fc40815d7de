"""Kernel enqueues through ctypes, without an event.

pyopencl creates an event (and its Python object) for every enqueue; on some drivers that
costs several microseconds a launch, which dominates small networks. The plain path here
calls ``clEnqueueNDRangeKernel`` of the very OpenCL library pyopencl loaded, on pyopencl's
queue and kernel handles, with no event. ``MACE_GPU_RAW_ENQUEUE=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Sequence
from typing import Any

SizeArray = Any  # a ctypes c_size_t array


def _library_path() -> str | None:
    """The OpenCL library loaded into this process (pyopencl's bundled ICD loader)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                if "libOpenCL" in line and "/" in line:
                    return line[line.index("/"):].strip()
    except OSError:
        pass
    return ctypes.util.find_library("OpenCL")


class RawEnqueue:
    """``clEnqueueNDRangeKernel`` with no offset, no wait list and no event."""

    def __init__(self, cl: Any) -> None:
        self.cl = cl
        path = _library_path()
        if path is None:
            raise OSError("no OpenCL library found")
        fn = ctypes.CDLL(path).clEnqueueNDRangeKernel
        fn.restype = ctypes.c_int32
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p,
                       ctypes.c_void_p]
        self._fn = fn

    @staticmethod
    def sizes(values: Sequence[int] | None) -> SizeArray | None:
        """A work size as the C array the call takes (None stays NULL)."""
        return None if values is None else (ctypes.c_size_t * len(values))(*values)

    def __call__(self, queue_ptr: int, kernel_ptr: int, dims: int, gws: SizeArray,
                 local: SizeArray | None) -> None:
        err = self._fn(queue_ptr, kernel_ptr, dims, None, gws, local, 0, None, None)
        if err:
            raise self.cl.RuntimeError(f"clEnqueueNDRangeKernel failed with error {err}")


def make_raw(cl: Any) -> RawEnqueue | None:
    """A RawEnqueue, or None where it is turned off or the library is not found."""
    if os.environ.get("MACE_GPU_RAW_ENQUEUE", "1") == "0":
        return None
    try:
        return RawEnqueue(cl)
    except (OSError, AttributeError):
        return None
