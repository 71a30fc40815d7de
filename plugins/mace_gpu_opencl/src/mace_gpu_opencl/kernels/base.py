"""What every GPU kernel's prepare function uses: the session's GPU options, the storage
chosen for the node, input coercion, preallocated outputs, weight uploads, launchers.

Session options (keyword options of ``Model.session``):

``gpu_storage``               ``"auto"`` (default), ``"image"`` or ``"buffer"``; auto is
                              :func:`default_storage`. A node whose tensors do not fit the
                              device's image2d limits uses buffers
``gpu_fp16_storage``          store activations and filters as half (compute stays fp32)
``gpu_kernel_time_limit_ms``  split kernels that run longer (see ``launch.py``)
``gpu_tuning_file``           JSON tuning results to load (see ``tuning.py``)
``gpu_tuning``                tune local sizes on first run (True, or candidates per kernel)
``gpu_memory_reuse``          True (default): node outputs share images / buffers by lifetime
                              (``memory.py``); False: one per output
``gpu_buffer_arena``          buffers offset-planned in one arena, a sub-buffer per tensor
                              (memory at the lower bound): ``"auto"`` (default) = on, except
                              on NVIDIA, whose driver spends tens of microseconds of host
                              time per launch on sub-buffers (MobileNetV2 on an H100: 2.3 ->
                              5.0 ms); True / False force it
``gpu_device_tensors``        ``"always"`` (default): outputs stay on the device as GpuTensor;
                              the session downloads them (``OpenCLDevice.to_host``) where a
                              non-GPU op or the caller reads them; ``"auto"``: download outputs
                              some non-GPU kernel reads; ``"never"``: always download
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from mace_core.dtypes import DType
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node
from mace_core.specs import KernelSpec
from mace_gpu_opencl.device import GpuRuntime, get_runtime
from mace_gpu_opencl.launch import Launcher
from mace_gpu_opencl.memory import Allocator, gpu_lifetimes, gpu_requests
from mace_gpu_opencl.tensor import BUFFER, IMAGE, GpuTensor, allocate_mem, fits_image, view4

I32 = np.int32
F32 = np.float32


def gpu_spec(op: str, prepare: Any, when: Any) -> KernelSpec:
    """The KernelSpec of a GPU kernel for ``op`` (priority 10: before the reference)."""
    return KernelSpec(op, "gpu", prepare=prepare, when=when, priority=10, name=f"gpu:{op}")

DEVICE_TENSORS = ("auto", "always", "never")


STORAGES = ("auto", IMAGE, BUFFER)


def default_storage(info: Any) -> str:
    """What ``gpu_storage="auto"`` picks: buffers on NVIDIA GPUs (on an H100, MobileNets and
    ResNet-50 ran 1.2-1.6x faster end to end with buffers: texture reads buy nothing
    there), image2d elsewhere (MACE's layout for mobile GPUs, whose texture caches serve
    the 2-D reads of convolutions), and buffers where RGBA float images are unusable."""
    if not info.float_images or info.nvidia:
        return BUFFER
    return IMAGE


@attrs.frozen
class GpuConfig:
    """The GPU options of one session, checked."""

    storage: str = IMAGE
    half: bool = False
    time_limit_ms: float | None = None
    tuning: int = 0
    device_tensors: str = "auto"

    @classmethod
    def from_options(cls, options: dict[str, Any], runtime: GpuRuntime) -> GpuConfig:
        storage = options.get("gpu_storage") or "auto"
        if storage not in STORAGES:
            raise MaceError(f"gpu_storage must be one of {STORAGES}, got {storage!r}")
        if storage == "auto" or not runtime.info.float_images:
            storage = default_storage(runtime.info) if storage == "auto" else BUFFER
        limit = options.get("gpu_kernel_time_limit_ms")
        if limit is not None and float(limit) <= 0:
            raise MaceError(f"gpu_kernel_time_limit_ms must be > 0, got {limit!r}")
        tuning = options.get("gpu_tuning", 0)
        tuning = 12 if tuning is True else int(tuning or 0)
        path = options.get("gpu_tuning_file")
        if path:
            runtime.tuner.load(path)
        mode = options.get("gpu_device_tensors", "always")
        if mode not in DEVICE_TENSORS:
            raise MaceError(f"gpu_device_tensors must be one of {DEVICE_TENSORS}, got {mode!r}")
        return cls(storage, bool(options.get("gpu_fp16_storage", False)),
                   float(limit) if limit else None, tuning, mode)


# -- predicates -------------------------------------------------------------------------
def float_activation(graph: Graph, name: str) -> bool:
    """A float32 tensor of rank <= 4 with elements (what GPU storage holds)."""
    if not name or name not in graph.tensors:
        return False
    desc = graph.tensors[name]
    return desc.dtype == DType.FLOAT32 and len(desc.shape) <= 4 and desc.size > 0


def activations_ok(node: Node, graph: Graph, inputs: Sequence[int] = (0,),
                   outputs: Sequence[int] = (0,)) -> bool:
    """The listed inputs and outputs exist and are float32 rank <= 4; no other output."""
    if any(i >= len(node.inputs) or not float_activation(graph, node.inputs[i]) for i in inputs):
        return False
    if any(node.outputs[i:i + 1] == [] or not float_activation(graph, node.outputs[i])
           for i in outputs):
        return False
    extra = [o for i, o in enumerate(node.outputs) if o and i not in outputs]
    return not extra


def is_const(graph: Graph, node: Node, index: int) -> bool:
    return index < len(node.inputs) and node.inputs[index] in graph.constants


def const(graph: Graph, node: Node, index: int) -> np.ndarray | None:
    if index < len(node.inputs) and node.inputs[index]:
        return graph.constants.get(node.inputs[index])
    return None


# (options, graph, consumers) of the session being prepared: every node of one session gets
# the same options dict, and a graph is not edited while a session is built.
_CONSUMERS: list[Any] = [None, None, None]


def _consumers(graph: Graph, options: dict[str, Any]) -> dict[str, list[Node]]:
    if _CONSUMERS[0] is not options or _CONSUMERS[1] is not graph:
        _CONSUMERS[:] = [options, graph, graph.consumers()]
    return _CONSUMERS[2]


def buffer_arena(option: Any, info: Any) -> bool:
    """Whether buffers go into one offset-planned arena (``gpu_buffer_arena``)."""
    if option in ("auto", None):
        return not info.nvidia
    if not isinstance(option, bool):
        raise MaceError(f"gpu_buffer_arena must be 'auto', True or False, got {option!r}")
    return option


def _allocator(graph: Graph, options: dict[str, Any], runtime: GpuRuntime) -> Allocator | None:
    """The session's output allocator (kept in its options dict), None with reuse off."""
    if not options.get("gpu_memory_reuse", True):
        return None
    held = options.get("_gpu_allocator")
    if held is None or held[0] is not graph:
        from mace_gpu_opencl.kernels import gpu_accepts

        def make(storage: str, half: bool, extent: tuple[int, ...]) -> Any:
            if storage == IMAGE:
                return allocate_mem(runtime, (1, 4 * extent[0], extent[1], 1), IMAGE, half)
            cl = runtime.cl
            return cl.Buffer(runtime.context, cl.mem_flags.READ_WRITE, size=extent[0])

        def sub(mem: Any, offset: int, nbytes: int) -> Any:
            return mem.get_sub_region(offset, nbytes)

        on_gpu = {id(n): gpu_accepts(n, graph) for n in graph.nodes}
        arena = buffer_arena(options.get("gpu_buffer_arena", "auto"), runtime.info)
        allocator = Allocator(gpu_lifetimes(graph, lambda n: on_gpu[id(n)]), make,
                              sub if arena else None, runtime.info.base_align)
        config = GpuConfig.from_options(options, runtime)
        allocator.plan(gpu_requests(graph, lambda n: on_gpu[id(n)], config.storage,
                                    config.half, lambda v: fits_image(runtime, v, config.half)))
        held = options["_gpu_allocator"] = (graph, allocator)
    return held[1]


# -- the per-node environment ------------------------------------------------------------
class OpEnv:
    """Helpers for preparing one node: storage choice, inputs, outputs, launchers."""

    def __init__(self, node: Node, graph: Graph, options: dict[str, Any],
                 extra_shapes: Sequence[Sequence[int]] = ()) -> None:
        """``extra_shapes``: intermediate tensors the node will allocate, which must fit
        the storage too."""
        self.runtime = get_runtime()
        self.node = node
        self.graph = graph
        self.options = options
        self.config = GpuConfig.from_options(options, self.runtime)
        self.half = self.config.half
        activations = [n for n in [*node.inputs, *node.outputs]
                       if n and n not in graph.constants and n in graph.tensors]
        views = [view4(graph.desc(n).shape) for n in activations]
        views += [view4(shape) for shape in extra_shapes]
        fits = all(fits_image(self.runtime, v, self.half) for v in views)
        self.storage = IMAGE if self.config.storage == IMAGE and fits else BUFFER
        self.variant = f"{self.storage}-{'fp16' if self.half else 'fp32'}"
        self._staging: dict[int, GpuTensor] = {}
        self._uploads: dict[int, tuple[Any, Any, GpuTensor, Launcher]] = {}
        self._pending: dict[int, Any] = {}
        self.download = [self._needs_host(name, options) for name in node.outputs]
        self.allocator = _allocator(graph, options, self.runtime)

    def _needs_host(self, name: str, options: dict[str, Any]) -> bool:
        mode = self.config.device_tensors
        if mode != "auto" or not name:
            return mode == "never"
        from mace_gpu_opencl.kernels import gpu_accepts

        readers = _consumers(self.graph, options).get(name, [])
        return not all(gpu_accepts(c, self.graph) for c in readers)

    # -- programs ---------------------------------------------------------------------
    def launcher(self, family: str, name: str, fixed_local: tuple[int, ...] | None = None,
                 internal: bool = False, defines: str = "") -> Launcher:
        program = self.runtime.programs.get(family, self.storage, self.half, defines)
        kernel = self.runtime.cl.Kernel(program, name)
        limit = None if internal else self.config.time_limit_ms
        return Launcher(self.runtime, kernel, name, self.variant, limit,
                        0 if internal else self.config.tuning, fixed_local, internal)

    # -- tensors ----------------------------------------------------------------------
    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.graph.desc(name).shape)

    def input(self, value: Any, index: int) -> GpuTensor:
        """Input ``index`` as a GpuTensor of this node's storage and precision."""
        staging = self._staging.get(index)
        if isinstance(value, GpuTensor) and value.half == self.half:
            if value.storage == self.storage:
                return value
            converted = value.to_storage(self.storage, staging)
        else:
            converted = self._upload(np.asarray(value, dtype=np.float32), index)
        self._staging[index] = converted
        return converted

    def _upload(self, host: np.ndarray, index: int) -> GpuTensor:
        """A host array as a GpuTensor: a snapshot copied as is (no host-side repacking, not
        waited for) into a staging buffer, then scattered into texels by ``from_nchw``."""
        up = self._uploads.get(index)
        if up is None or up[0] != host.shape:
            out = GpuTensor.empty(self.runtime, host.shape, self.storage, self.half)
            launch = self.launcher("layout", "from_nchw", internal=True)
            up = (host.shape, self.scratch(max(host.nbytes, 4)), out, launch)
            self._uploads[index] = up
        _, staging, out, launch = up
        cl = self.runtime.cl
        self.runtime.transfers["upload"] += 1
        # The copy is not waited for, so it reads a private snapshot: the caller's array may
        # be rewritten as soon as we return (the cpu device reuses its output buffers every
        # op). The event holds the snapshot until the next upload replaces it.
        snapshot = np.array(host, dtype=np.float32, order="C", copy=True)
        self._pending[index] = cl.enqueue_copy(self.runtime.queue, staging, snapshot,
                                               is_blocking=False)
        launch(out.grid, [staging, *view_args(out)])
        return out

    def output(self, shape: Sequence[int] | None = None, index: int = 0) -> GpuTensor:
        """Preallocated memory for output ``index`` (reused by every run; shared with
        tensors of other lifetimes unless ``gpu_memory_reuse`` is off)."""
        if shape is None:
            shape = self.shape(self.node.outputs[index])
        mem = None
        if self.allocator is not None:
            mem = self.allocator.take(self.node, view4(shape), self.storage, self.half)
        if mem is None:
            return GpuTensor.empty(self.runtime, shape, self.storage, self.half)
        return GpuTensor(self.runtime, mem, shape, self.storage, self.half)

    def weights(self, array: np.ndarray) -> Any:
        """A read-only buffer of ``array`` in the storage precision (filters)."""
        return self.buffer(np.asarray(array, np.float16 if self.half else np.float32))

    def buffer(self, array: np.ndarray) -> Any:
        """A read-only buffer holding ``array`` as is (tables, biases: float32 / int32)."""
        cl = self.runtime.cl
        host = np.ascontiguousarray(array).reshape(-1)
        if host.nbytes == 0:
            host = np.zeros(4, host.dtype)
        flags = cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR
        return cl.Buffer(self.runtime.context, flags, hostbuf=host)

    def scratch(self, nbytes: int) -> Any:
        """Uninitialised device memory for a kernel's intermediate values."""
        cl = self.runtime.cl
        return cl.Buffer(self.runtime.context, cl.mem_flags.READ_WRITE, size=max(nbytes, 16))

    def finish(self, outputs: Sequence[GpuTensor]) -> list[Any]:
        """The runner's return value: GpuTensors, downloaded where a host consumer reads."""
        return [np.asarray(t) if self.download[i] else t for i, t in enumerate(outputs)]


def tensor_args(t: GpuTensor) -> list[Any]:
    """The (memory, row pitch in texels) pair every kernel takes for a tensor (built once
    per tensor handle)."""
    args = t.kernel_args.get("tensor")
    if args is None:
        args = t.kernel_args["tensor"] = [t.mem, I32(t.width)]
    return args


def view_args(t: GpuTensor) -> list[Any]:
    """Memory, pitch and the 4-D view ``n, c, h, w`` as kernel arguments."""
    args = t.kernel_args.get("view")
    if args is None:
        args = t.kernel_args["view"] = [t.mem, I32(t.width), *(I32(d) for d in t.view)]
    return args


# -- activations ------------------------------------------------------------------------
# Codes of ``activate()`` in cl/common.h.
ACTIVATIONS = {
    "": 0, "Relu": 1, "Clip": 2, "LeakyRelu": 3, "Sigmoid": 4, "Tanh": 5, "HardSigmoid": 6,
    "HardSwish": 7, "Elu": 8, "Softplus": 9, "Abs": 10, "Neg": 11, "Exp": 12, "Sqrt": 13,
    "Swish": 14, "Log": 15,
}


def fused_ok(node: Node) -> bool:
    """Whether the node's fused activation (if any) is one the kernels apply."""
    return node.attrs.get("activation", "") in ACTIVATIONS


def activation_args(name: str, params: Sequence[float] = ()) -> list[Any]:
    """``act, a, b`` kernel arguments for an activation and its parameters."""
    given = [*params, None, None]
    if name == "Clip":  # a missing bound does not clip
        lo = -np.inf if given[0] is None else float(given[0])
        hi = np.inf if given[1] is None else float(given[1])
        return [I32(ACTIVATIONS[name]), F32(lo), F32(hi)]
    a, b = (0.0 if v is None else float(v) for v in given[:2])
    return [I32(ACTIVATIONS[name]), F32(a), F32(b)]
