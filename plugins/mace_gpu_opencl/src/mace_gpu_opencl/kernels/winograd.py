"""Winograd F(2,3) / F(4,3) for 3x3 stride-1 convolutions (``cl/conv_winograd.cl``): the
variants, the filter transform and packing, where it applies, and the default choice.

F(m, 3) computes an m x m output tile from an (m + 2)^2 input patch with (m + 2)^2
multiplications per input / output channel pair instead of 9 m^2: 2.25x fewer for F(2,3),
4x fewer for F(4,3). The price: transforms of the input (once per output channel block of
a work-group) and of the output, filters (m + 2)^2 / 9 times larger (F(4,3): 4x, which
makes it memory bound where few tiles share each filter, e.g. 7x7 planes), and rounding:
F(4,3)'s transforms have coefficients up to 8 (A) and 5 (B), so its fp32 error is ~10x
that of direct summation (still ~1e-6 relative; F(2,3) is about as exact as direct).
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:
    from mace_gpu_opencl.kernels.base import OpEnv
    from mace_gpu_opencl.kernels.conv import ConvShape

MAX_SPLIT = 32
MIN_CHANNELS = 32  # below, the transforms cost more than the multiplications they save

# G (filter transform, (m + 2) x 3) of Lavin & Gray, points 0, +-1, (+-2,) infinity; B^T
# and A^T are written out in cl/conv_winograd.cl.
G = {
    2: np.array([[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]]),
    4: np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
}


@attrs.frozen
class Variant:
    """One kernel of cl/conv_winograd.cl: output tile ``m``, ``t`` tiles by ``o`` output
    channels per work-group, ``kc`` input channels per K step, ``db``: double-buffered
    local tiles (one barrier a step), ``bt`` x ``bo`` tiles x channels of one position
    a work item keeps in registers; ``mma``: the GEMMs on tensor cores instead (NVIDIA,
    3xTF32, see the .cl file), where ``bt`` x ``bo`` only sets the work-group size (128 or
    256)."""

    m: int
    t: int
    o: int
    kc: int
    db: int = 0
    bt: int = 4
    bo: int = 4
    mma: int = 0

    @property
    def positions(self) -> int:
        return (self.m + 2) ** 2

    @property
    def threads(self) -> int:
        """Work-group size: one work item per position and bt x bo block of tiles x
        channels."""
        return self.positions * (self.t // self.bt) * (self.o // self.bo)

    @property
    def v_pitch(self) -> int:
        """float4 of one position's transformed input in local memory (WINO_VSP): padded
        to 4 (mod 8) with 16 tiles, else 2 (mod 8), so a warp's GEMM loads of 8 distinct
        float4 fall in distinct banks."""
        vsp = self.kc * self.t // 4
        return vsp + ((4 if self.t == 16 else 2) - vsp % 8) % 8

    @property
    def local_bytes(self) -> int:
        """Local memory of the kernel (WINO_LDS in the .cl file)."""
        a2 = self.positions
        u_pitch = 0 if self.mma else self.kc * self.o // 4 + 1  # MMA: filters in registers
        stages = (self.db + 1) * a2 * (self.v_pitch + u_pitch)
        if self.m == 4:  # Ts, the row-transformed patches
            stages += self.t * (self.kc // 4) * (a2 + 1)
        # Ms, the transform's input (rows of a tile padded by 2 float4 on tensor cores)
        return 16 * max(stages, a2 * self.t * (self.o // 4 + (2 if self.mma else 0)))


# The kernels of cl/conv_winograd.cl (same names and parameters).
KERNELS = {
    "wino4_t4o16": Variant(4, 4, 16, 8),
    "wino4_t8o8": Variant(4, 8, 8, 8),
    "wino2_t16o16": Variant(2, 16, 16, 8),
    "wino2_t16o16k16": Variant(2, 16, 16, 16),
    "wino2_t16o16db": Variant(2, 16, 16, 8, 1),
    "wino2_t8o16k16": Variant(2, 8, 16, 16),
    "wino2_t8o16db": Variant(2, 8, 16, 8, 1),
    "wino2_t8o32k16": Variant(2, 8, 32, 16),
    "wino2_t8o32db": Variant(2, 8, 32, 8, 1),
    "wino2_t8o8": Variant(2, 8, 8, 8),
    "wino2_t8o8db": Variant(2, 8, 8, 8, 1),
    "wino2_t4o32": Variant(2, 4, 32, 8),
    "wino2_t16o32b8": Variant(2, 16, 32, 8, 0, 8, 8),
    "wino2_t16o16b8": Variant(2, 16, 16, 8, 0, 8, 4),
    "wino2_t8o16b8": Variant(2, 8, 16, 8, 0, 8, 4),
    "wino2_t16o16b8db": Variant(2, 16, 16, 8, 1, 8, 4),
    "wino2_t8o16b8db": Variant(2, 8, 16, 8, 1, 8, 4),
    "wino2_t16o16mmadb": Variant(2, 16, 16, 8, 1, 8, 4, 1),
    "wino2_t16o16k16mma": Variant(2, 16, 16, 16, 0, 4, 4, 1),
    "wino2_t16o32k16mma": Variant(2, 16, 32, 16, 0, 4, 8, 1),
}

# PTX membar.gl, compiled in where the device takes inline PTX (NVIDIA), for the in-kernel
# split-K sum (see cl/conv_winograd.cl)
MEMBAR_PROBE = ('__kernel void probe(__global int *a) '
                '{ a[0] = 1; asm volatile("membar.gl;" ::: "memory"); a[1] = 2; }')
# ... and a tensor-core mma.sync on TF32 operands (sm_80 and later) for the MMA variants,
# spelled as the kernels spell it (MMA_TF32)
MMA_PROBE = """__kernel void probe(__global float *c) {
    float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
    const uint a = as_uint(1.0f);
    __asm__ __volatile__("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
                 : "r"(a), "r"(a), "r"(a), "r"(a), "r"(a), "r"(a));
    c[get_global_id(0)] = d0 + d1 + d2 + d3;
}"""


def applies(shape: ConvShape) -> bool:
    """3x3, stride 1, dilation 1, group 1 (any padding, batch, channel count)."""
    return (shape.group == 1 and tuple(shape.w[2:]) == (3, 3) and tuple(shape.strides) == (1, 1)
            and tuple(shape.dilations) == (1, 1))


def worth_it(shape: ConvShape) -> bool:
    """Whether the multiplications saved pay for the transforms (by default)."""
    return applies(shape) and shape.x[1] >= MIN_CHANNELS and shape.y[1] >= MIN_CHANNELS


def tile_grid(shape: ConvShape, m: int) -> tuple[int, int, int]:
    """(tiles down, tiles across, all tiles of the batch) for output tiles of m x m."""
    th, tw = -(-shape.y[2] // m), -(-shape.y[3] // m)
    return th, tw, shape.y[0] * th * tw


def k_steps(shape: ConvShape, variant: Variant) -> int:
    return -(-shape.x[1] // variant.kc)


def work_groups(shape: ConvShape, variant: Variant) -> int:
    """Work-groups of one K slice: tile blocks x output channel blocks."""
    tiles = tile_grid(shape, variant.m)[2]
    return -(-tiles // variant.t) * -(-shape.y[1] // variant.o)


_TRANSFORMED: dict[tuple, np.ndarray] = {}  # the last few transforms (tuning repacks)


def transform_filters(w: np.ndarray, m: int) -> np.ndarray:
    """(M, C, 3, 3) -> U = G g G^T as ((m + 2)^2 positions, M, C), computed in float64."""
    w = np.ascontiguousarray(w, np.float32)
    key = (m, w.shape, hashlib.sha1(w.data).digest())
    found = _TRANSFORMED.get(key)
    if found is None:
        g = G[m]
        u = np.einsum("ia,mcab,jb->ijmc", g, w.astype(np.float64), g, optimize=True)
        found = u.reshape((m + 2) ** 2, w.shape[0], w.shape[1])
        if len(_TRANSFORMED) >= 4:
            _TRANSFORMED.pop(next(iter(_TRANSFORMED)))
        _TRANSFORMED[key] = found
    return found


def pack(w: np.ndarray, variant: Variant) -> np.ndarray:
    """(M, C, 3, 3) -> transformed filters [M / O][K steps][positions][KC][O], zero padded:
    one K step of one work-group is a contiguous run of positions * KC * O values."""
    u = transform_filters(w, variant.m)
    npos, m, c = u.shape
    ob, steps = -(-m // variant.o), -(-c // variant.kc)
    full = np.zeros((npos, ob * variant.o, steps * variant.kc), np.float64)
    full[:, :m, :c] = u
    full = full.reshape(npos, ob, variant.o, steps, variant.kc)
    packed = full.transpose(1, 3, 0, 4, 2).astype(np.float32)
    return mma_order(packed) if variant.mma else packed


def mma_order(packed: np.ndarray) -> np.ndarray:
    """[..][KC][O] -> [..][KC / 8][O / 16][32 lanes][4]: for input channels 8 kk..8 kk + 7,
    lane 4 g + q of an MMA variant reads its B fragments of n-blocks 2h and 2h + 1 as one
    float4 kk * O / 16 + h: (U[q][16h + g], U[q + 4][16h + g], U[q][16h + 8 + g],
    U[q + 4][16h + 8 + g]) (k relative to 8 kk)."""
    *lead, kc, o = packed.shape
    assert kc % 8 == 0 and o % 16 == 0
    # k = 8 kk + 4 hi + q, o = 16 h + 8 nb + g
    u = packed.reshape(*lead, kc // 8, 2, 4, o // 16, 2, 8)
    u = np.moveaxis(u, (-3, -1, -4, -2, -5), (-5, -4, -3, -2, -1))  # kk, h, g, q, nb, hi
    return np.ascontiguousarray(u).reshape(*lead, kc, o)


def zeroed(env: OpEnv, count: int) -> Any:
    """A read-write device buffer of ``count`` int zeros (the in-kernel split-K counters,
    which the kernel leaves zeroed again after each launch)."""
    cl = env.runtime.cl
    flags = cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR
    return cl.Buffer(env.runtime.context, flags, hostbuf=np.zeros(max(count, 4), np.int32))


_DEFINES: dict[int, str] = {}


def defines(runtime: Any) -> str:
    """Build options of cl/conv_winograd.cl for this device (probed once per runtime, on
    NVIDIA platforms only: elsewhere the probe would just print a compile error)."""
    found = _DEFINES.get(id(runtime))
    if found is None:
        cl, info = runtime.cl, runtime.info
        found = ""
        if info.nvidia:
            for probe, define in ((MEMBAR_PROBE, "-DMACE_NV_MEMBAR=1"),
                                  (MMA_PROBE, "-DMACE_NV_MMA=1")):
                try:
                    cl.Program(runtime.context, probe).build(devices=[runtime.device])
                    found += " " + define
                except cl.Error:
                    pass
        _DEFINES[id(runtime)] = found.strip()
    return _DEFINES[id(runtime)]


def tensor_cores(runtime: Any) -> bool:
    """Whether the MMA variants build here: mma.sync on TF32 through inline PTX (NVIDIA,
    compute capability 8.0 or later)."""
    return "MACE_NV_MMA" in defines(runtime)


def builds_here(runtime: Any, name: str) -> bool:
    """Whether variant ``name`` compiles on this device (the MMA ones: tensor_cores)."""
    return not KERNELS[name].mma or tensor_cores(runtime)


def variant_defines(runtime: Any, name: str) -> str:
    """Build options of the program holding only kernel ``name`` (``-DWINO_PICK``: its
    position in :data:`KERNELS`, the order of the .cl file): compiling all of them for
    every storage and precision made a cold ResNet-50 session take 11.6 s on an H100."""
    return f"{defines(runtime)} -DWINO_PICK={list(KERNELS).index(name) + 1}".strip()


def sums_in_kernel(runtime: Any, option: str | None) -> bool:
    """Whether split-K slices are added by the kernel's last slice (one launch) or by
    conv2d_splitk_sum (a second launch): option ``gpu_winograd_split_sum`` "kernel" /
    "launch"; by default in the kernel where a device-wide fence is known to be compiled
    in (NVIDIA's membar.gl; OpenCL 1.2's mem_fence there is membar.cta, too weak)."""
    if option in ("kernel", "launch"):
        return option == "kernel"
    return "MACE_NV_MEMBAR" in defines(runtime)


def pick_split(shape: ConvShape, variant: Variant, compute_units: int, gpu: bool,
               forced: int = 0) -> int:
    """K slices: none while the output alone gives at least one work-group per two compute
    units, else the power of two nearest 1.75 work-groups per compute unit, keeping at
    least two K steps a slice (1 on CPU devices). On an H100 the unsplit kernel was the
    fastest down to 104 work-groups (28x28x128), and splits to 2 work-groups per SM the
    fastest below (14x14x256: 4 of 64; 7x7x512: 8 of 32); splits that leave slices of
    unequal K steps (3, 6, 12) were 10-40% slower than the powers of two around them.
    The tensor-core (MMA) variants, whose K steps are short, split into slices of about 4
    K steps: on an H100 wino2_t16o32k16mma took 11.0 / 11.2 / 11.2 us back to back at
    28x28x128 (split 2), 14x14x256 (4), 7x7x512 (8), and 12.5-16.4 us at half or twice
    those splits."""
    steps = k_steps(shape, variant)
    if forced:
        return max(1, min(int(forced), steps))
    groups = work_groups(shape, variant)
    if not gpu or groups >= compute_units / 2:
        return 1
    if variant.mma:
        return max(1, min(1 << max(0, round(math.log2(steps / 4))), MAX_SPLIT))
    split = 1 << max(0, round(math.log2(1.75 * compute_units / groups)))
    return max(1, min(split, steps // 2, MAX_SPLIT))


def default(shape: ConvShape, compute_units: int, mma: bool = False) -> str:
    """The variant for a shape without a tuned choice: F(2,3), which beat F(4,3) on an H100
    at every ResNet-50 3x3 layer (F(4,3)'s transforms cost more than its 44% fewer
    multiplications save at batch 1, and its larger work-groups did not fit the
    registers). Many tiles: 8 tiles x 16 channels, double-buffered (56x56: 392
    work-groups); fewer: 16 x 16 with 16 channels a step (28x28 unsplit; 14x14 and 7x7
    split over K by pick_split). Run to run, the variants within 10% of the best changed
    places; these two were at or near the top in every run. With tensor cores (``mma``):
    16 tiles x 32 channels on them, the fastest at every ResNet-50 3x3 layer on an H100
    (back to back 8.1 / 10.7 / 10.9 / 10.9 us from 56x56x64 to 7x7x512, against 10.4 /
    12.4 / 12.9 / 12.9 for the best kernels on the FMA units)."""
    if mma:
        return "wino2_t16o32k16mma"
    tiles = tile_grid(shape, 2)[2]
    return "wino2_t8o16db" if tiles >= 4 * compute_units else "wino2_t16o16k16"
