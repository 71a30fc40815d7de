"""Conv (1-D and 2-D) on the GPU: constant filters packed once per session.

Kernel choice (``cl/conv2d.cl``, ``cl/conv_gemm.cl``, ``cl/conv_winograd.cl``): on GPUs,
for ``group == 1`` with at least 32 input and 16 output channels, ``conv2d_gemv`` for a 1x1
of at most 4 output pixels (FC layers), a Winograd kernel (``winograd.py``) for a 3x3 of
stride 1 and dilation 1 with at least 32 output channels, else ``conv2d_gemm`` (implicit
GEMM through local memory; split over K, with ``conv2d_splitk_sum`` adding the slices,
when the output alone gives too few work-groups to fill the device; ``conv2d_gemm8`` has 8
pixels per work item); otherwise (and on CPU devices) ``conv2d_1x1`` (1x1, no padding),
``conv2d_3x3`` or ``conv2d``.
Depthwise (``group == C == M``) runs ``depthwise`` (four columns per work item) or, for
narrow outputs, ``depthwise_1``; other groups ``conv2d_grouped``. A 1-D conv runs as a 2-D
conv on the ``(N, C, L, 1)`` view.

Session options ``gpu_conv_kernel`` (a kernel name above, or ``winograd`` for the default
Winograd variant; ignored where it does not apply) and ``gpu_conv_split_k`` (slices for the
GEMM and Winograd kernels) override the choice; ``gpu_winograd_split_sum``: ``"kernel"``
(the last K slice of a Winograd work-group's outputs adds them: one launch; the default on
NVIDIA) or ``"launch"`` (a second launch, ``conv2d_splitk_sum``, adds them: the default
elsewhere, see ``winograd.sums_in_kernel``). With ``gpu_tuning``, the
choice between the implicit GEMM and the Winograd variants is timed on the first run of
each shape and kept by the tuner (saved in tuning files, ``conv_choice.py``); a tuned
choice beats the size heuristic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from mace_core.ir import Graph, Node
from mace_core.ops.conv import window_attrs, window_geometry
from mace_gpu_opencl.kernels import winograd
from mace_gpu_opencl.kernels.base import (
    I32,
    OpEnv,
    activation_args,
    activations_ok,
    const,
    fused_ok,
    gpu_spec,
    is_const,
    tensor_args,
)
from mace_gpu_opencl.kernels.conv_choice import make_conv
from mace_gpu_opencl.tensor import GpuTensor, view4

# name -> (pixels, output channel blocks) per work item; a work-group's tile is 16x that
GEMM_KERNELS = {"conv2d_gemm": (4, 1), "conv2d_gemm8": (8, 1)}
GEMM_MIN_CHANNELS = 32  # below, K steps are half padding: the direct kernels do better
GEMM_LOCAL = (16, 1, 16)
GEMV_LOCAL = (64, 1, 1)
GEMV_MAX_PIXELS = 4
GEMM_BK = 8  # input channel blocks per K step (cl/conv2d.cl)
MAX_SPLIT = 32


def accepts(node: Node, graph: Graph) -> bool:
    if not activations_ok(node, graph) or not is_const(graph, node, 1) or not fused_ok(node):
        return False
    if len(node.inputs) > 2 and node.inputs[2] and not is_const(graph, node, 2):
        return False
    return len(graph.desc(node.inputs[0]).shape) in (3, 4)


def geometry(x_shape: Sequence[int], w_shape: Sequence[int], attrs: dict[str, Any]
             ) -> tuple[list[int], ...]:
    """Kernel, strides, dilations, begin and end pads as 2-D lists (1-D convs get a
    width of 1)."""
    nsp = len(x_shape) - 2
    kernel = [int(k) for k in w_shape[2:]]
    s, d, p = window_attrs(nsp, kernel, attrs["strides"], attrs["dilations"], attrs["pads"],
                           attrs["auto_pad"])
    begin, end, _ = window_geometry(x_shape[2:], kernel, s, d, p, attrs["auto_pad"])
    if nsp == 1:
        return kernel + [1], s + [1], d + [1], begin + [0], end + [0]
    return kernel, s, d, begin, end


def pack_dense(w: np.ndarray) -> np.ndarray:
    """(M, C, KH, KW) -> [OCB][KH][KW][ICB*4 ic][4 oc], zero padded."""
    m, c, kh, kw = w.shape
    ocb, icb = -(-m // 4), -(-c // 4)
    full = np.zeros((ocb * 4, icb * 4, kh, kw), np.float32)
    full[:m, :c] = w
    return full.reshape(ocb, 4, icb * 4, kh, kw).transpose(0, 3, 4, 2, 1)


def pack_gemm(w: np.ndarray) -> np.ndarray:
    """(M, C, KH, KW) -> [KH][KW][ICBp * 4 ic][OCBp][4 oc], zero padded to ICBp (a multiple
    of GEMM_BK blocks) and OCBp (a multiple of 32 blocks): the GEMM kernels' filters."""
    m, c, kh, kw = w.shape
    icbp = -(-c // (4 * GEMM_BK)) * GEMM_BK
    ocbp = -(-m // 128) * 32
    full = np.zeros((ocbp * 4, icbp * 4, kh, kw), np.float32)
    full[:m, :c] = w
    return full.reshape(ocbp, 4, icbp * 4, kh, kw).transpose(3, 4, 2, 0, 1)


def pack_depthwise(w: np.ndarray) -> np.ndarray:
    """(C, 1, KH, KW) -> [CB][KH][KW][4], zero padded."""
    c, _, kh, kw = w.shape
    cb = -(-c // 4)
    full = np.zeros((cb * 4, kh, kw), np.float32)
    full[:c] = w[:, 0]
    return full.reshape(cb, 4, kh, kw).transpose(0, 2, 3, 1)


def pack_bias(b: np.ndarray | None, channels: int) -> np.ndarray:
    full = np.zeros(-(-channels // 4) * 4, np.float32)
    if b is not None:
        full[:channels] = np.asarray(b, np.float32).reshape(-1)
    return full


def choose(x_shape: Sequence[int], w: np.ndarray, group: int, pads: Sequence[int]) -> str:
    """The direct (non-GEMM) kernel of ``cl/conv2d.cl`` for this convolution."""
    m, c = w.shape[0], x_shape[1]
    kh, kw = w.shape[2], w.shape[3]
    if group > 1 and group == c == m:
        return "depthwise"
    if group > 1:
        return "conv2d_grouped"
    if kh == kw == 1 and not any(pads):
        return "conv2d_1x1"
    return "conv2d_3x3" if kh == kw == 3 else "conv2d"


@attrs.frozen
class ConvShape:
    """What the kernel choice depends on: views of input and output, filter, groups."""

    x: tuple[int, int, int, int]
    y: tuple[int, int, int, int]
    w: tuple[int, int, int, int]
    group: int
    pads: tuple[int, ...]
    strides: tuple[int, ...] = (1, 1)
    dilations: tuple[int, ...] = (1, 1)

    @property
    def pixels(self) -> int:
        return self.y[0] * self.y[2] * self.y[3]

    @property
    def gemm_steps(self) -> int:
        """K steps of the GEMM kernels: taps x blocks of GEMM_BK input channel blocks."""
        return self.w[2] * self.w[3] * -(-self.x[1] // (4 * GEMM_BK))


def pick_kernel(shape: ConvShape, compute_units: int, gpu: bool, forced: str = "",
                mma: bool = False) -> str:
    """The kernel that runs: ``forced`` where it applies, else chosen by size (``mma``: the
    device has the tensor-core Winograd kernels)."""
    direct = choose(shape.x, np.empty(shape.w, np.uint8), shape.group, shape.pads)
    if forced in winograd.KERNELS and winograd.applies(shape):
        return forced
    if forced == "winograd" and winograd.applies(shape):
        return winograd.default(shape, compute_units, mma)
    if forced:
        dense = shape.group == 1 and (forced in GEMM_KERNELS or forced == "conv2d")
        gemv = forced == "conv2d_gemv" and direct == "conv2d_1x1" and shape.pixels <= 4
        if forced == direct or dense or gemv or (forced == "depthwise_1"
                                                  and direct == "depthwise"):
            return forced
    if direct == "depthwise":
        blocks = -(-shape.y[1] // 4) * -(-shape.y[3] // 4) * shape.y[0] * shape.y[2]
        return "depthwise_1" if gpu and blocks < 256 * compute_units else direct
    if not gpu or shape.group != 1 or shape.x[1] < GEMM_MIN_CHANNELS or shape.y[1] < 16:
        return direct  # local-memory tiles gain nothing on CPU devices
    if direct == "conv2d_1x1" and shape.pixels <= GEMV_MAX_PIXELS:
        return "conv2d_gemv"
    if winograd.worth_it(shape):
        return winograd.default(shape, compute_units, mma)
    return "conv2d_gemm"


def pick_split(shape: ConvShape, kernel: str, compute_units: int, gpu: bool,
               forced: int = 0) -> int:
    """K slices for a GEMM kernel: about one work-group per compute unit in all, keeping
    at least two K steps per slice (1 on CPU devices). On an H100 at batch 1 that was the
    best split, or within 10% of it, for every ResNet-50 / MobileNet layer measured."""
    if kernel in winograd.KERNELS:
        return winograd.pick_split(shape, winograd.KERNELS[kernel], compute_units, gpu, forced)
    steps = shape.gemm_steps
    if forced:
        return max(1, min(int(forced), steps))
    if not gpu:
        return 1
    px, no = GEMM_KERNELS[kernel]
    tiles = -(-shape.y[1] // (64 * no)) * -(-shape.pixels // (16 * px))
    return max(1, min(round(compute_units / tiles), steps // 2, MAX_SPLIT))


def wino_fits(env: OpEnv, name: str, variant: winograd.Variant) -> bool:
    """Whether the device runs a Winograd kernel's work-group (size, local memory, and the
    registers of the compiled kernel)."""
    info = env.runtime.info
    if info.max_work_group_size < variant.threads or info.local_mem < variant.local_bytes:
        return False
    if not winograd.builds_here(env.runtime, name):
        return False
    launch = env.launcher("conv_winograd", name,
                          defines=winograd.variant_defines(env.runtime, name))
    return launch.max_work_group >= variant.threads


class ConvLaunch:
    """One prepared convolution on a node's OpEnv: the chosen kernel, packed filters,
    precomputed arguments; ``__call__(x)`` enqueues it (and the split-K sum) into ``out``.
    ``kernel`` / ``split`` (a tuned choice) take the place of the session options."""

    def __init__(self, env: OpEnv, shape: ConvShape, w: np.ndarray, bias: np.ndarray | None,
                 geo: Sequence[Sequence[int]], act: list[Any], out: GpuTensor,
                 kernel: str = "", split: int = 0) -> None:
        info = env.runtime.info
        gpu = "GPU" in info.type.upper()
        options = env.options
        forced = kernel or str(options.get("gpu_conv_kernel") or "")
        forced_split = split or int(options.get("gpu_conv_split_k") or 0)
        name = pick_kernel(shape, info.compute_units, gpu, forced,
                           winograd.tensor_cores(env.runtime))
        variant = winograd.KERNELS.get(name)
        if variant and not wino_fits(env, name, variant):
            name, variant = "conv2d_gemm", None
        if name in GEMM_KERNELS and (info.max_work_group_size < 256
                                     or info.local_mem < 32 * 1024):
            name = choose(shape.x, w, shape.group, shape.pads)
        self.name = name
        self.out = out
        taps, strides, begin, dilations = geo
        n, c, ih, iw = shape.x
        _, m, oh, ow = shape.y
        ocb = -(-m // 4)
        bias_buf = env.buffer(pack_bias(bias, m))
        geo_args = [I32(v) for v in (*taps, *strides, *begin, *dilations, shape.group)]
        self.head = [I32(ih), I32(iw), I32(c)]
        self.sum_launch: Any = None
        if name in GEMM_KERNELS or name in winograd.KERNELS:
            pixels = shape.pixels
            self.split = pick_split(shape, name, info.compute_units, gpu, forced_split)
            # Winograd kernels add their K slices themselves unless told to leave it to a
            # second launch
            here = variant is not None and self.split > 1 and winograd.sums_in_kernel(
                env.runtime, options.get("gpu_winograd_split_sum"))
            launched = self.split > 1 and not here
            partial = env.scratch(16 * (self.split * pixels * ocb if self.split > 1 else 1))
            extra: list[Any] = [I32(self.split), partial]
            if name in GEMM_KERNELS:
                px, no = GEMM_KERNELS[name]
                filters = env.weights(pack_gemm(w))
                tiles = (-(-ocb // (16 * no)), -(-pixels // (16 * px)))
                self.launch = env.launcher("conv_gemm", name, fixed_local=GEMM_LOCAL)
                self.gws: tuple[int, ...] = (tiles[0] * 16, self.split, tiles[1] * 16)
                rows = pixels
            else:
                assert variant is not None
                th, tw, rows = winograd.tile_grid(shape, variant.m)
                filters = env.buffer(winograd.pack(w, variant))  # fp32 (see the .cl)
                nt = variant.threads
                self.launch = env.launcher("conv_winograd", name, fixed_local=(nt, 1, 1),
                                           defines=winograd.variant_defines(env.runtime,
                                                                            name))
                self.gws = (nt * -(-m // variant.o), self.split, -(-rows // variant.t))
                counters = winograd.zeroed(env, self.gws[0] // nt * self.gws[2] if here else 1)
                extra += [I32(here), counters, I32(th), I32(tw)]
            if launched:
                self.sum_launch = env.launcher("conv_gemm", "conv2d_splitk_sum")
                self.sum_gws = (ocb, pixels)
                self.sum_args = [partial, I32(self.split), I32(pixels), bias_buf,
                                 *tensor_args(out), I32(oh), I32(ow), I32(m), *act]
        elif name == "conv2d_gemv":
            self.split = 1
            filters = env.weights(pack_dense(w))
            self.launch = env.launcher("conv_gemm", name, fixed_local=GEMV_LOCAL)
            self.gws = (GEMV_LOCAL[0], 1, ocb)
            rows = shape.pixels
            extra = []
        else:
            self.split = 1
            packed = {"depthwise": pack_depthwise, "depthwise_1": pack_depthwise,
                      "conv2d_grouped": lambda a: a}.get(name, pack_dense)
            filters = env.weights(packed(w))
            self.launch = env.launcher("conv2d", name)
            cols = ow if name in ("conv2d_grouped", "depthwise_1") else -(-ow // 4)
            self.gws = (ocb, cols, n * oh)
            rows = n * oh
            extra = []
        self.tail = [filters, bias_buf, *tensor_args(out), I32(oh), I32(ow), I32(m),
                     I32(rows), *geo_args, *act, *extra]

    def __call__(self, x: GpuTensor) -> GpuTensor:
        self.launch(self.gws, [*tensor_args(x), *self.head, *self.tail])
        if self.sum_launch is not None:
            self.sum_launch(self.sum_gws, self.sum_args)
        return self.out


def prepare(node: Node, attrs: dict[str, Any], graph: Graph, options: dict[str, Any]):
    env = OpEnv(node, graph, options)
    x_shape = env.shape(node.inputs[0])
    w = np.asarray(const(graph, node, 1), np.float32)
    kernel, strides, dilations, begin, end = geometry(x_shape, w.shape, attrs)
    w4 = w.reshape(*w.shape[:2], kernel[0], kernel[1])
    shape = ConvShape(view4(x_shape), view4(env.shape(node.outputs[0])),
                      tuple(int(d) for d in w4.shape), int(attrs["group"]),
                      tuple(begin + end), tuple(strides), tuple(dilations))
    act = activation_args(attrs["activation"], attrs["activation_params"])
    out = env.output()
    bias = const(graph, node, 2)

    def make(name: str, split: int) -> ConvLaunch:
        return ConvLaunch(env, shape, w4, bias, (kernel, strides, begin, dilations), act, out,
                          name, split)

    conv = make_conv(env, shape, make)

    def run(inputs):
        return env.finish([conv(env.input(inputs[0], 0))])

    return run


KERNELS = [gpu_spec("Conv", prepare, accepts)]
