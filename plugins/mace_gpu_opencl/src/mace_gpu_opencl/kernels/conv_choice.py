"""The algorithm of a 3x3 stride-1 convolution on a GPU (implicit GEMM or one of the
Winograd variants with its split over K), chosen by timing (``gpu_tuning``) or taken from
the tuner's choices (tuning files, ``mace tune``); without either, the size heuristic of
``conv.pick_kernel`` decides.

A choice is keyed by program variant (storage + precision) and convolution shape, e.g.
``conv@image-fp32:1x64x56x56>64:3x3:p1,1,1,1`` -> ``["wino4_t8o16", 2]``. Session options
that force a kernel or a split (``gpu_conv_kernel``, ``gpu_conv_split_k``) win over both.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from mace_gpu_opencl.kernels import winograd

if TYPE_CHECKING:
    from mace_gpu_opencl.device import GpuRuntime
    from mace_gpu_opencl.kernels.base import OpEnv
    from mace_gpu_opencl.kernels.conv import ConvLaunch, ConvShape
    from mace_gpu_opencl.tensor import GpuTensor

TIMED_RUNS = 5  # per candidate, after one warm-up; the fastest counts
MIN_CHANNELS = 16  # both ways: below, neither the GEMM nor Winograd is worth timing

Make = Callable[[str, int], "ConvLaunch"]


def choice_key(variant: str, shape: ConvShape) -> str:
    n, c, h, w = shape.x
    pads = ",".join(str(int(p)) for p in shape.pads)
    return f"conv@{variant}:{n}x{c}x{h}x{w}>{shape.y[1]}:{shape.w[2]}x{shape.w[3]}:p{pads}"


def tunable(shape: ConvShape) -> bool:
    """Where timing decides: Winograd applies and there are enough channels for it or the
    implicit GEMM to pay (on any device: timing also tells on CPU OpenCL devices)."""
    return (winograd.applies(shape) and shape.x[1] >= MIN_CHANNELS
            and shape.y[1] >= MIN_CHANNELS)


def candidates(shape: ConvShape, compute_units: int,
               builds: Callable[[str], bool] = lambda name: True) -> list[tuple[str, int]]:
    """(kernel, split) pairs to time; "" is the heuristic's kernel, split 0 the kernel's
    own split. The heuristic's choice, the implicit GEMM, then every Winograd variant that
    ``builds`` on the device at its own split, half and twice it."""
    found: list[tuple[str, int]] = [("", 0), ("conv2d_gemm", 0), ("conv2d_gemm8", 0)]
    for name, variant in winograd.KERNELS.items():
        if not builds(name):
            continue
        split = winograd.pick_split(shape, variant, compute_units, True)
        steps = winograd.k_steps(shape, variant)
        for s in sorted({max(1, split // 2), split, min(2 * split, steps, winograd.MAX_SPLIT)}):
            found.append((name, s))
    return found


def time_launch(runtime: GpuRuntime, launch: Callable[[Any], Any], x: Any,
                runs: int = TIMED_RUNS) -> float:
    """Fastest GPU time (ms, profiling events of all its kernels) of ``launch(x)``."""
    held = runtime.trace
    best = float("inf")
    try:
        runtime.trace = []
        launch(x)  # warm-up: first-run work (local-size tuning of the split-K sum)
        for _ in range(runs):
            runtime.trace = []
            launch(x)
            runtime.finish()
            best = min(best, sum(r.ms for r in runtime.trace))
    finally:
        runtime.trace = held
    return best


class TunedConv:
    """A convolution that times its candidates on its first run, keeps the fastest (and
    tells the tuner), and runs that from then on."""

    def __init__(self, runtime: GpuRuntime, key: str, options: list[tuple[str, int]],
                 make: Make) -> None:
        self.runtime = runtime
        self.key = key
        self.options = options
        self.make = make
        self.chosen: ConvLaunch | None = None

    def _choose(self, x: GpuTensor) -> ConvLaunch:
        tuner = self.runtime.tuner
        if self.key in tuner.choices:  # another node of the same shape was timed first
            return self.make(*tuner.choices[self.key])
        best: tuple[float, ConvLaunch, tuple[str, int]] | None = None
        seen: set[tuple[str, int]] = set()
        for name, split in self.options:
            launch = self.make(name, split)
            chosen = (launch.name, launch.split)
            if chosen in seen:
                continue  # the heuristic's choice again, or a fallback
            seen.add(chosen)
            ms = time_launch(self.runtime, launch, x)
            if best is None or ms < best[0]:
                best = (ms, launch, chosen)
        assert best is not None
        tuner.choices[self.key] = best[2]
        tuner.choice_ms[self.key] = best[0]
        tuner.version += 1
        return best[1]

    def __call__(self, x: GpuTensor) -> GpuTensor:
        if self.chosen is None:
            self.chosen = self._choose(x)
        return self.chosen(x)


def make_conv(env: OpEnv, shape: ConvShape, make: Make) -> Callable[[Any], Any]:
    """The convolution of a node: forced by options, a tuned choice, timed now, or the
    heuristic's (``make(kernel, split)`` builds one ConvLaunch; "" and 0: by heuristic)."""
    runtime = env.runtime
    forced = env.options.get("gpu_conv_kernel") or env.options.get("gpu_conv_split_k")
    if forced or not tunable(shape):
        return make("", 0)
    key = choice_key(env.variant, shape)
    found = runtime.tuner.choices.get(key)
    if found is not None:
        return make(*found)
    if env.config.tuning:
        return TunedConv(runtime, key, candidates(shape, runtime.info.compute_units,
                                                  partial(winograd.builds_here, runtime)),
                         make)
    return make("", 0)
