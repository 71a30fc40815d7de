"""Device tensors: the NHWC4 storage layout, host packing, and the GpuTensor handle.

Every activation of rank <= 4 is seen as a 4-D *view* ``(N, C, H, W)``: rank 4 as is,
rank 3 ``(N, C, L)`` as ``(N, C, L, 1)``, rank 2 ``(N, C)`` as ``(N, C, 1, 1)``, rank 1
``(C,)`` as ``(1, C, 1, 1)``, a scalar as ``(1, 1, 1, 1)``. The view is stored as a grid
of RGBA texels, channels packed by four (``CB = ceil(C / 4)`` blocks, the padding lanes
always zero): texel ``(x, y) = (cb * W + w, n * H + h)`` of a ``W * CB`` by ``N * H`` grid.
In ``image`` storage the grid is an image2d (RGBA FLOAT or HALF_FLOAT); in ``buffer``
storage it is a linear buffer of texels in row-major grid order, so image <-> buffer
conversion is one copy. The view keeps the logical element order, so reshapes that keep
the view are free and the others are one gather kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mace_gpu_opencl.device import GpuRuntime

View = tuple[int, int, int, int]
IMAGE = "image"
BUFFER = "buffer"


def view4(shape: Sequence[int]) -> View:
    """The 4-D ``(N, C, H, W)`` view of a logical shape of rank <= 4."""
    s = [int(d) for d in shape]
    if len(s) == 4:
        return (s[0], s[1], s[2], s[3])
    if len(s) == 3:
        return (s[0], s[1], s[2], 1)
    if len(s) == 2:
        return (s[0], s[1], 1, 1)
    if len(s) == 1:
        return (1, s[0], 1, 1)
    if not s:
        return (1, 1, 1, 1)
    raise ValueError(f"GPU tensors have rank <= 4, got shape {list(s)}")


def view_axis(rank: int, axis: int) -> int:
    """The view axis (0=N, 1=C, 2=H, 3=W) that logical ``axis`` of a rank-``rank`` tensor
    lands on."""
    axis = axis % rank if rank else 0
    return 1 if rank == 1 else axis


def grid(view: View) -> tuple[int, int]:
    """``(width, height)`` in texels of the storage grid of a view."""
    n, c, h, w = view
    return w * ((c + 3) // 4), n * h


def pack(x: np.ndarray, half: bool) -> np.ndarray:
    """Host array (logical shape) -> storage texels ``(N*H, CB, W, 4)``, padding lanes 0."""
    n, c, h, w = view4(x.shape)
    cb = (c + 3) // 4
    nhwc = np.zeros((n, h, w, cb * 4), np.float16 if half else np.float32)
    nhwc[..., :c] = np.asarray(x).reshape(n, c, h, w).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(nhwc.reshape(n, h, w, cb, 4).transpose(0, 1, 3, 2, 4))


def unpack(texels: np.ndarray, shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """Storage texels -> host array of the logical ``shape`` and ``dtype``."""
    n, c, h, w = view4(shape)
    cb = (c + 3) // 4
    nhwc = texels.reshape(n, h, cb, w, 4).transpose(0, 1, 3, 2, 4).reshape(n, h, w, cb * 4)
    nchw = nhwc[..., :c].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(nchw.astype(dtype, copy=False)).reshape(tuple(shape))


def fits_image(runtime: GpuRuntime, view: View, half: bool) -> bool:
    """Whether the view's grid fits this device's image2d limits (and format support)."""
    info = runtime.info
    if not (info.half_images if half else info.float_images):
        return False
    width, height = grid(view)
    return 0 < width <= info.image2d_max[0] and 0 < height <= info.image2d_max[1]


def allocate_mem(runtime: GpuRuntime, view: View, storage: str, half: bool) -> Any:
    """Uninitialised device memory for a view's grid."""
    cl = runtime.cl
    width, height = grid(view)
    if storage == IMAGE:
        kind = cl.channel_type.HALF_FLOAT if half else cl.channel_type.FLOAT
        fmt = cl.ImageFormat(cl.channel_order.RGBA, kind)
        make = getattr(cl, "create_image", None) or cl.Image
        return make(runtime.context, cl.mem_flags.READ_WRITE, fmt, shape=(width, height))
    nbytes = max(width * height * 4 * (2 if half else 4), 16)
    return cl.Buffer(runtime.context, cl.mem_flags.READ_WRITE, size=nbytes)


def buffer_base(cl: Any, mem: Any) -> tuple[Any, int]:
    """``(parent, offset)`` of a sub-buffer; ``(mem, 0)`` for a buffer of its own."""
    parent = mem.get_info(cl.mem_info.ASSOCIATED_MEMOBJECT)
    if parent is None:
        return mem, 0
    return parent, int(mem.get_info(cl.mem_info.OFFSET))


class GpuTensor:
    """A tensor held by the OpenCL device: memory, logical shape and dtype, storage kind
    (``image`` / ``buffer``) and precision (``half``). ``np.asarray(t)`` downloads it."""

    __slots__ = ("runtime", "mem", "shape", "dtype", "storage", "half", "kernel_args")

    def __init__(self, runtime: GpuRuntime, mem: Any, shape: Sequence[int], storage: str,
                 half: bool, dtype: Any = np.float32) -> None:
        self.runtime = runtime
        self.mem = mem
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.storage = storage
        self.half = bool(half)
        self.kernel_args: dict[str, list[Any]] = {}  # cached argument lists (kernels.base)

    # -- geometry ---------------------------------------------------------------------
    @property
    def view(self) -> View:
        return view4(self.shape)

    @property
    def grid(self) -> tuple[int, int]:
        return grid(self.view)

    @property
    def width(self) -> int:
        """Grid width in texels (the row pitch kernels need in buffer storage)."""
        return self.grid[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    # -- transfers --------------------------------------------------------------------
    @classmethod
    def empty(cls, runtime: GpuRuntime, shape: Sequence[int], storage: str, half: bool,
              dtype: Any = np.float32) -> GpuTensor:
        return cls(runtime, allocate_mem(runtime, view4(shape), storage, half), shape,
                   storage, half, dtype)

    @classmethod
    def upload(cls, runtime: GpuRuntime, x: np.ndarray, storage: str, half: bool,
               out: GpuTensor | None = None) -> GpuTensor:
        """Copy a host array to the device (into ``out`` when given and of the same kind)."""
        x = np.asarray(x)
        if out is None or out.shape != x.shape or (out.storage, out.half) != (storage, half):
            out = cls.empty(runtime, x.shape, storage, half, x.dtype)
        out.write(x)
        return out

    def write(self, x: np.ndarray) -> None:
        cl, queue = self.runtime.cl, self.runtime.queue
        self.runtime.transfers["upload"] += 1
        host = pack(x, self.half)
        if self.storage == IMAGE:
            cl.enqueue_copy(queue, self.mem, host, origin=(0, 0), region=self.grid,
                            is_blocking=True)
        else:
            cl.enqueue_copy(queue, self.mem, host, is_blocking=True)

    def numpy(self) -> np.ndarray:
        """Download to a host array of the logical shape and dtype (waits for the queue)."""
        cl, queue = self.runtime.cl, self.runtime.queue
        self.runtime.transfers["download"] += 1
        width, height = self.grid
        host = np.empty(width * height * 4, np.float16 if self.half else np.float32)
        if self.storage == IMAGE:
            cl.enqueue_copy(queue, host, self.mem, origin=(0, 0), region=(width, height),
                            is_blocking=True)
        else:
            cl.enqueue_copy(queue, host, self.mem, is_blocking=True)
        return unpack(host, self.shape, self.dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)

    def to_storage(self, storage: str, out: GpuTensor | None = None) -> GpuTensor:
        """The same tensor in ``storage`` (one device copy; self when already there)."""
        if storage == self.storage:
            return self
        cl, queue = self.runtime.cl, self.runtime.queue
        if out is None or out.shape != self.shape or (out.storage, out.half) != (
                storage, self.half):
            out = GpuTensor.empty(self.runtime, self.shape, storage, self.half, self.dtype)
        self.runtime.transfers["convert"] += 1
        # image -> buffer and buffer -> image copies take the same arguments; the buffer
        # side is named by its parent and offset when it is a sub-buffer of a session's
        # arena (PoCL crashes copying between an image and a sub-buffer)
        image, buffer = (out.mem, self.mem) if storage == IMAGE else (self.mem, out.mem)
        parent, offset = buffer_base(cl, buffer)
        dest, src = (image, parent) if storage == IMAGE else (parent, image)
        cl.enqueue_copy(queue, dest, src, offset=offset, origin=(0, 0), region=self.grid)
        return out

    def reshaped(self, shape: Sequence[int]) -> GpuTensor:
        """A handle on the same memory with another logical shape of the same view."""
        if view4(shape) != self.view:
            raise ValueError(f"view of {list(shape)} differs from {list(self.shape)}")
        return GpuTensor(self.runtime, self.mem, shape, self.storage, self.half, self.dtype)

    def __repr__(self) -> str:
        precision = "fp16" if self.half else "fp32"
        return f"<GpuTensor {self.dtype}{list(self.shape)} {self.storage} {precision}>"
