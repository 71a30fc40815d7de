"""Winograd F(2,3) / F(4,3) convolutions (cl/conv_winograd.cl, kernels/winograd.py): the
filter transform and packing on the host, every kernel variant against the reference
device in every storage mode (image2d / buffer, fp32 / fp16 storage), whole and split over
K (summed in the kernel or by a second launch), where Winograd applies, the default
choice, and the tuned choice between it and the implicit GEMM.

Tolerances: fp32 results are held to the suite's REL_MAX (1e-4 of max |ref|). F(4,3)'s
transforms have coefficients up to 8 (A^T) and 5 (B^T), so its rounding error is about ten
times that of direct summation: 6e-6 measured here (C = 37), and 3e-6 in a float32 numpy
model of the kernel's arithmetic at C = 512 (the largest ResNet-50 layer): 30x under the
limit. F(2,3) (coefficients 0 and +-1) measured 4e-7. fp16 storage keeps the transformed
filters in fp32 (rounding U to half is an error in the transformed domain that A^T (.) A
amplifies: 6e-3 of max |y| for F(4,3)), so the error is that of storing the input and the
output as half, bounded as for the direct kernels by FP16_REL_MAX (3e-3; measured 5e-4).
"""

from __future__ import annotations

import json
import re
from importlib import resources

import attrs
import numpy as np
import pytest
from gpu_cases import MODE_IDS, MODES, Case, build, check, rand, run_case, traced_kernels

from mace_core.runtime.model import Model
from mace_gpu_opencl.kernels import winograd
from mace_gpu_opencl.kernels.conv import ConvShape, pick_kernel, pick_split
from mace_gpu_opencl.kernels.conv_choice import choice_key, tunable
from mace_gpu_opencl.tuning import Tuner, device_key

F2, F4 = "wino2_t8o16db", "wino4_t4o16"

# B^T and A^T as written out in cl/conv_winograd.cl
BT = {2: np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
      4: np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                   [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]])}
AT = {2: np.array([[1, 1, 1, 0], [0, 1, -1, -1]]),
      4: np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                   [0, 1, -1, 8, -8, 1]])}

# several K steps, a partial last step, channels not a multiple of 4, partial tiles and
# channel blocks, batch 2
MANY_STEPS = Case("wino_many_steps", "Conv", [(2, 37, 11, 9), rand(40, 37, 3, 3),
                                               rand(40, seed=1)],
                  {"pads": [1, 1, 1, 1], "activation": "Relu"})

SHAPES = [
    MANY_STEPS,
    Case("wino_asymmetric_pads", "Conv", [(1, 13, 7, 6), rand(7, 13, 3, 3)],
         {"pads": [0, 1, 1, 0]}),
    Case("wino_valid_odd", "Conv", [(1, 16, 10, 13), rand(24, 16, 3, 3), rand(24, seed=2)],
         {"activation": "LeakyRelu", "activation_params": [0.1]}),
    Case("wino_pad2_grows", "Conv", [(1, 8, 5, 5), rand(8, 8, 3, 3), rand(8, seed=3)],
         {"pads": [2, 2, 2, 2], "activation": "Clip", "activation_params": [0.0, 6.0]}),
    Case("wino_one_tile", "Conv", [(1, 3, 3, 3), rand(5, 3, 3, 3)], {"pads": [1, 1, 1, 1]}),
    Case("wino_same_upper_sigmoid", "Conv", [(1, 20, 14, 15), rand(36, 20, 3, 3)],
         {"auto_pad": "SAME_UPPER", "activation": "Sigmoid"}),
]


def shape_of(c: int, m: int, hw: int, k: int = 3, stride: int = 1, dilation: int = 1,
             group: int = 1) -> ConvShape:
    out = (hw + 2 * (k // 2) - dilation * (k - 1) - 1) // stride + 1
    return ConvShape((1, c, hw, hw), (1, m, out, out), (m, c // group, k, k), group,
                     (k // 2,) * 4, (stride, stride), (dilation, dilation))


# -- host side ----------------------------------------------------------------------------
@pytest.mark.parametrize("m", [2, 4])
def test_transform_gives_the_convolution(m):
    """A^T [U . (B^T d B)] A with U from transform_filters is the 3x3 correlation of each
    input patch (positions in row-major order, p = i * (m + 2) + j)."""
    rng = np.random.default_rng(m)
    a = m + 2
    d = rng.standard_normal((5, a, a))
    g = rng.standard_normal((3, 5, 3, 3)).astype(np.float32)
    u = winograd.transform_filters(g, m).reshape(a, a, 3, 5)
    v = np.einsum("ia,cab,jb->ijc", BT[m], d, BT[m])
    y = np.einsum("xi,ijo,yj->oxy", AT[m], np.einsum("ijoc,ijc->ijo", u, v), AT[m])
    ref = np.array([[[(d[:, i:i + 3, j:j + 3] * g[o]).sum() for j in range(m)]
                     for i in range(m)] for o in range(3)])
    np.testing.assert_allclose(y, ref, atol=1e-9 * np.abs(ref).max() * 100)


def test_pack_layout():
    """[M / O][K steps][positions][KC][O], zero padded past M and C."""
    w = rand(21, 11, 3, 3)
    variant = winograd.Variant(2, 8, 16, 8)
    packed = winograd.pack(w, variant)
    u = winograd.transform_filters(w, 2)
    assert packed.shape == (2, 2, 16, 8, 16)
    for ob, s, p, kk, o in [(0, 0, 0, 0, 0), (1, 1, 15, 2, 4), (0, 1, 7, 2, 15)]:
        assert packed[ob, s, p, kk, o] == np.float32(u[p, ob * 16 + o, s * 8 + kk])
    assert not packed[1, :, :, :, 5:].any() and not packed[:, 1, :, 3:].any()


def test_kernel_table_matches_the_source():
    """Every variant is in cl/conv_winograd.cl with the same parameters, launches as
    written (one V-row job per work item for F(2,3), at most 8 filter float4 per work item)
    and fits NVIDIA's 48 KB of local memory."""
    source = (resources.files("mace_gpu_opencl") / "cl" / "conv_winograd.cl").read_text()
    found = {name: winograd.Variant(*map(int, params))
             for name, *params in re.findall(r"^WINO_KERNEL\((\w+), (\d+), (\d+), (\d+), "
                                             r"(\d+), (\d+), (\d+), (\d+), (\d+)\)",
                                             source, re.M)}
    assert found == winograd.KERNELS
    for variant in found.values():
        jobs = variant.t * variant.kc // 4 * (variant.m + 2)
        assert variant.m == 4 or variant.kc <= variant.o
        assert (jobs <= variant.threads if variant.m == 2 else jobs <= 2 * variant.threads)
        assert variant.positions * variant.kc * variant.o // 4 <= 8 * variant.threads
        assert variant.t <= 4 * variant.kc and variant.local_bytes <= 48 * 1024
        # register blocks the kernel's arrays hold (acc[8][2]: 8 tiles x 2 float4)
        assert variant.bt in (4, 8) and variant.bo in (4, 8)
        assert variant.t % variant.bt == 0 and variant.o % variant.bo == 0
        if variant.mma:  # warps of 4 or 2 positions, m16n8k8 fragments, cm[4][4][4]
            assert variant.m == 2 and variant.t == 16 and variant.kc in (8, 16)
            assert variant.threads in (128, 256) and variant.o in (16, 32)


def test_mma_filter_order():
    """An MMA variant's filters: per position, float4 (kk * O / 16 + h) * 32 + lane
    (lane = 4 g + q) holds (U[q][16h + g], U[q + 4][16h + g], U[q][16h + 8 + g],
    U[q + 4][16h + 8 + g]), k counted from 8 kk."""
    w = rand(40, 11, 3, 3)
    for kc in (8, 16):  # 8 kk + (q, q + 4): kk 0 and 1 of KC = 16
        variant = winograd.Variant(2, 16, 32, kc, 0, 8, 8, 1)
        packed = winograd.pack(w, variant)
        plain = winograd.pack(w, attrs.evolve(variant, mma=0))
        assert packed.shape == plain.shape == (2, -(-11 // kc), 16, kc, 32)
        for ob, p, kk, h, g, q in [(0, 0, 0, 0, 0, 0), (1, 15, kc // 8 - 1, 1, 7, 3),
                                   (0, 6, 0, 1, 2, 1)]:
            u = plain[ob, 0, p, 8 * kk:]
            found = packed[ob, 0, p].reshape(-1, 4)[(kk * 2 + h) * 32 + 4 * g + q]
            expect = [u[q, 16 * h + g], u[q + 4, 16 * h + g], u[q, 16 * h + 8 + g],
                      u[q + 4, 16 * h + 8 + g]]
            assert found.tolist() == [float(v) for v in expect]


def test_where_it_applies():
    assert winograd.applies(shape_of(8, 8, 9))
    assert not winograd.applies(shape_of(8, 8, 9, stride=2))
    assert not winograd.applies(shape_of(8, 8, 9, dilation=2))
    assert not winograd.applies(shape_of(8, 8, 9, group=2))
    assert not winograd.applies(shape_of(8, 8, 9, k=1))
    assert not winograd.worth_it(shape_of(16, 64, 56))  # too few input channels


def test_default_choice():
    """ResNet-50's 3x3 layers on 132 compute units: the variants and splits measured best
    on an H100; CPU devices and small channel counts keep the direct kernels."""
    expect = {(64, 56): (F2, 1), (128, 28): ("wino2_t16o16k16", 1),
              (256, 14): ("wino2_t16o16k16", 4), (512, 7): ("wino2_t16o16k16", 8)}
    for (c, hw), (kernel, split) in expect.items():
        shape = shape_of(c, c, hw)
        assert pick_kernel(shape, 132, gpu=True) == kernel
        assert pick_split(shape, kernel, 132, gpu=True) == split
    mma = "wino2_t16o32k16mma"  # tensor cores: slices of about 4 K steps of 16 channels
    for (c, hw), split in {(64, 56): 1, (128, 28): 2, (256, 14): 4, (512, 7): 8}.items():
        assert pick_kernel(shape_of(c, c, hw), 132, True, mma=True) == mma
        assert pick_split(shape_of(c, c, hw), mma, 132, gpu=True) == split
    assert pick_kernel(shape_of(64, 64, 56), 2, gpu=False) == "conv2d_3x3"
    assert pick_kernel(shape_of(16, 16, 56), 132, gpu=True) == "conv2d_3x3"
    assert pick_kernel(shape_of(64, 64, 56, stride=2), 132, gpu=True) == "conv2d_gemm"
    for c, hw in [(32, 7), (40, 9), (1024, 3), (64, 224)]:
        assert pick_kernel(shape_of(c, c, hw), 132, gpu=True) in winograd.KERNELS
    # forced names: a Winograd kernel where it applies, "winograd" for the default one
    assert pick_kernel(shape_of(8, 8, 9), 2, gpu=False, forced=F4) == F4
    assert pick_kernel(shape_of(8, 8, 9), 2, gpu=False, forced="winograd") in winograd.KERNELS
    assert pick_kernel(shape_of(8, 8, 9, stride=2), 2, gpu=False, forced=F4) == "conv2d_3x3"


# -- on the device --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("kernel", list(winograd.KERNELS))
def test_every_variant(gpu, kernel, mode):
    """Whole, split over K with the sum in the kernel, and again after another input (the
    in-kernel sum must leave nothing behind)."""
    if not winograd.builds_here(gpu, kernel):
        pytest.skip(f"{kernel} runs on tensor cores through inline PTX mma.sync (NVIDIA, "
                    f"compute capability 8.0+); {gpu.info.name} has none (benchmarks/gpu_h100.py "
                    "runs these tests on the H100)")
    storage, half = mode
    graph, feeds = build(MANY_STEPS)
    ref = Model(graph).session(["reference"]).run(feeds)["y"]
    other = {k: (0.5 - v[..., ::-1]).copy() for k, v in feeds.items()}
    ref_other = Model(graph).session(["reference"]).run(other)["y"]
    for split in (1, 3):
        session = Model(graph).session(["gpu"], gpu_storage=storage, gpu_fp16_storage=half,
                                       gpu_conv_kernel=kernel, gpu_conv_split_k=split,
                                       gpu_winograd_split_sum="kernel")
        assert traced_kernels(gpu, session, feeds) == [kernel]
        check(session.run(feeds)["y"], ref, half)
        check(session.run(other)["y"], ref_other, half)
        check(session.run(feeds)["y"], ref, half)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("kernel", [F2, F4])
@pytest.mark.parametrize("case", SHAPES, ids=lambda c: c.id)
def test_shapes(gpu, case, kernel, mode):
    storage, half = mode
    ours, ref, session = run_case(case, storage, half, gpu_conv_kernel=kernel)
    check(ours, ref, half)
    assert traced_kernels(gpu, session, build(case)[1]) == [kernel]


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_split_summed_by_a_second_launch(gpu, mode):
    storage, half = mode
    ours, ref, session = run_case(MANY_STEPS, storage, half, gpu_conv_kernel=F2,
                                  gpu_conv_split_k=2, gpu_winograd_split_sum="launch")
    check(ours, ref, half)
    assert traced_kernels(gpu, session, build(MANY_STEPS)[1]) == [F2, "conv2d_splitk_sum"]


def test_split_sum_default(gpu):
    """In the kernel where a device-wide fence is compiled in (NVIDIA), else a second
    launch."""
    nvidia = "MACE_NV_MEMBAR" in winograd.defines(gpu)
    _, _, session = run_case(MANY_STEPS, "buffer", False, gpu_conv_kernel=F2,
                             gpu_conv_split_k=2)
    names = traced_kernels(gpu, session, build(MANY_STEPS)[1])
    assert names == ([F2] if nvidia else [F2, "conv2d_splitk_sum"])


def test_split_adds_up_to_the_whole(gpu):
    whole, ref, _ = run_case(MANY_STEPS, "buffer", False, gpu_conv_kernel=F4)
    for how in ("kernel", "launch"):
        split, _, _ = run_case(MANY_STEPS, "buffer", False, gpu_conv_kernel=F4,
                               gpu_conv_split_k=4, gpu_winograd_split_sum=how)
        np.testing.assert_allclose(split, whole, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_forced_where_it_does_not_apply(gpu):
    """A Winograd kernel asked for a strided conv runs the usual kernel instead."""
    case = Case("wino_strided", "Conv", [(1, 8, 9, 9), rand(8, 8, 3, 3)],
                {"pads": [1, 1, 1, 1], "strides": [2, 2]})
    ours, ref, session = run_case(case, "image", False, gpu_conv_kernel=F2)
    check(ours, ref, False)
    assert traced_kernels(gpu, session, build(case)[1]) == ["conv2d_3x3"]


TUNE = Case("wino_tune", "Conv", [(1, 16, 10, 10), rand(16, 16, 3, 3), rand(16, seed=4)],
            {"pads": [1, 1, 1, 1], "activation": "Relu"})


def test_tuned_choice_is_kept_saved_and_obeyed(gpu, tmp_path):
    """gpu_tuning times the GEMM and Winograd candidates of a tunable shape once, keeps the
    fastest in the tuner and its file; a file's choice (here a hand-edited one) is what a
    later session runs."""
    graph, feeds = build(TUNE)
    ref = Model(graph).session(["reference"]).run(feeds)["y"]
    shape = ConvShape((1, 16, 10, 10), (1, 16, 10, 10), (16, 16, 3, 3), 1, (1, 1, 1, 1))
    assert tunable(shape)
    key = choice_key("buffer-fp32", shape)
    gpu.tuner.choices.pop(key, None)
    try:
        session = Model(graph).session(["gpu"], gpu_storage="buffer", gpu_tuning=2)
        check(session.run(feeds)["y"], ref, False)
        kernel, split = gpu.tuner.choices[key]
        assert traced_kernels(gpu, session, feeds)[0] == kernel and gpu.tuner.choice_ms[key] > 0
        path = tmp_path / "tuning.json"
        gpu.tuner.save(path, [])
        data = json.loads(path.read_text())
        section = data["devices"][device_key(gpu.info)]
        assert section["choices"][key] == [kernel, split]

        section["choices"][key] = ["wino2_t8o8", 2]
        path.write_text(json.dumps(data))
        fresh = Tuner(gpu.info)
        assert fresh.load(path) == 1 and fresh.choices[key] == ("wino2_t8o8", 2)
        gpu.tuner.choices.pop(key)
        session = Model(graph).session(["gpu"], gpu_storage="buffer",
                                       gpu_tuning_file=str(path))
        assert traced_kernels(gpu, session, feeds)[0] == "wino2_t8o8"  # (+ the split-K sum here)
        check(session.run(feeds)["y"], ref, False)
    finally:
        gpu.tuner.choices.pop(key, None)


def test_each_variant_builds_alone():
    """-DWINO_PICK=i keeps only the i-th kernel of the .cl file, in the order of
    winograd.KERNELS (so a session compiles just the variants it uses)."""
    import re
    from pathlib import Path

    from mace_gpu_opencl.kernels import winograd

    source = (Path(winograd.__file__).parent.parent / "cl" / "conv_winograd.cl").read_text()
    picks = re.findall(r"#if (?:defined\(MACE_NV_MMA\) && \()?!defined\(WINO_PICK\) \|\| "
                       r"WINO_PICK == (\d+)\)?\nWINO_KERNEL\((\w+),", source)
    assert [(int(i), n) for i, n in picks] == [(i + 1, n) for i, n in
                                               enumerate(winograd.KERNELS)]
