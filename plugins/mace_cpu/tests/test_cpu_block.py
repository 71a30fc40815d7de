"""Inverted-residual blocks run as one op (csrc/block.c): a 1x1 expand, 3x3 depthwise and
1x1 project conv inside a fused partition become one step, chunk by chunk of output rows.
Its outputs are bit-identical to the three ops run one by one (cpu_fuse_blocks=False), at
any thread count and geometry, and match the reference device; blocks the fused kernel does
not take run as three ops."""

from __future__ import annotations

import numpy as np
import pytest
from mace_core.dtypes import DType
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes

from cpu_helpers import assert_rel_close, randn

RELU6 = {"activation": "Clip", "activation_params": [0.0, 6.0]}
ACTS = {"relu6": RELU6, "relu": {"activation": "Relu"}, "none": {},
        "hardswish": {"activation": "HardSwish"}}


def block_graph(c: int, e: int, out: int, h: int, w: int, stride: int = 1,
                dw_act: str = "relu6", residual: bool = False, expose_dw: bool = False,
                seed: int = 0) -> Graph:
    """x -> 1x1 expand (ReLU6) -> 3x3 depthwise (stride, pad 1) -> 1x1 project [+ x]."""
    rng = np.random.default_rng(seed)
    outputs = ["y", "d"] if expose_dw else ["y"]
    g = Graph("block", inputs=["x"], outputs=outputs)
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (1, c, h, w))
    g.add_constant("we", randn(rng, e, c, 1, 1, scale=1 / np.sqrt(c)))
    g.add_constant("be", randn(rng, e, scale=0.1))
    g.add_constant("wd", randn(rng, e, 1, 3, 3, scale=1 / 3))
    g.add_constant("bd", randn(rng, e, scale=0.1))
    g.add_constant("wp", randn(rng, out, e, 1, 1, scale=1 / np.sqrt(e)))
    g.add_constant("bp", randn(rng, out, scale=0.1))
    g.nodes = [
        Node("expand", "Conv", ["x", "we", "be"], ["t"], dict(RELU6)),
        Node("dw", "Conv", ["t", "wd", "bd"], ["d"],
             {"group": e, "pads": [1, 1, 1, 1], "strides": [stride, stride],
              **ACTS[dw_act]}),
        Node("project", "Conv", ["d", "wp", "bp"], ["p" if residual else "y"]),
    ]
    if residual:
        g.nodes.append(Node("residual", "Add", ["p", "x"], ["y"]))
    infer_shapes(g, default_registry())
    for value in g.constants.values():
        value.flags.writeable = False  # as in a loaded model
    return g


def native_steps(session) -> int:
    return sum(unit.runner.info["native_steps"] for unit in session._fused_units
               if unit.step is None)


def run_both(graph: Graph, threads: int, seed: int = 1, **options):
    model = Model(graph)
    fused = model.session(["cpu"], cpu_threads=threads, **options)
    plain = model.session(["cpu"], cpu_threads=threads, cpu_fuse_blocks=False, **options)
    c, h, w = graph.tensors["x"].shape[1:]
    x = randn(np.random.default_rng(seed), 1, c, h, w)
    return fused, plain, fused.run({"x": x}), plain.run({"x": x}), x


def steps_saved(isa: str) -> int:
    """The fused kernel runs the hand-written x86 depthwise kernels (AVX2 / AVX-512):
    three convs become one step there; elsewhere they stay three."""
    return 2 if isa in ("avx2", "avx512") else 0


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("geo", [
    (24, 144, 24, 56, 56, 1, True),   # MobileNetV2's 56x56 block, with its residual Add
    (16, 96, 24, 64, 64, 2, False),   # stride 2, even size
    (8, 48, 16, 57, 45, 2, False),    # stride 2, odd sizes
    (32, 192, 32, 28, 28, 1, True),   # MobileNetV2's 28x28 block
    (64, 384, 64, 14, 14, 1, True),   # 14x14, the smallest image the kernel takes; the
                                      # project runs the pixels-as-rows kernel (AVX-512)
    (128, 256, 32, 14, 14, 1, False),  # ... the expand too
    (12, 72, 20, 40, 100, 1, False),  # wide rows, a partial last sliver
])
def test_block_is_one_step_and_bit_identical(geo, threads, isa):
    c, e, out, h, w, stride, residual = geo
    graph = block_graph(c, e, out, h, w, stride, residual=residual)
    fused, plain, got, want, x = run_both(graph, threads)
    # AVX2 runs stride-1 rows under 16 wide on the flat loops, not on the row kernels the
    # block runs: there the ops stay separate (the results could differ in the last bit)
    flat = isa == "avx2" and stride == 1 and w < 16
    assert native_steps(fused) == native_steps(plain) - (0 if flat else steps_saved(isa))
    np.testing.assert_array_equal(got["y"], want["y"])
    for _ in range(3):  # scratch rows kept between chunks and runs: still the same
        np.testing.assert_array_equal(fused.run({"x": x})["y"], want["y"])
    ref = Model(graph).session(["reference"]).run({"x": x})
    assert_rel_close(got["y"], ref["y"], 1e-5)


@pytest.mark.parametrize("dw_act", ["relu", "none"])
def test_block_other_clamps(dw_act, isa):
    graph = block_graph(16, 64, 16, 48, 48, 1, dw_act=dw_act)
    fused, plain, got, want, _ = run_both(graph, 2)
    assert native_steps(fused) == native_steps(plain) - steps_saved(isa)
    np.testing.assert_array_equal(got["y"], want["y"])


def test_block_with_fp16_weights(isa):
    """Weights kept as fp16 in the plans: the block widens them as the three ops do."""
    graph = block_graph(24, 144, 24, 56, 56, 2)
    fused, plain, got, want, _ = run_both(graph, 2, cpu_weight_dtype="float16")
    assert native_steps(fused) == native_steps(plain) - steps_saved(isa)
    np.testing.assert_array_equal(got["y"], want["y"])


def separable_chain(layers: int = 4, c: int = 16, h: int = 56, seed: int = 0) -> Graph:
    """MobileNetV1's shape: a stem conv, then depthwise 3x3 + pointwise 1x1 pairs (stride 2
    every other pair, TF's asymmetric pads). The arena reuses slots along the chain, so a
    pair's output may get its input's slot."""
    rng = np.random.default_rng(seed)
    g = Graph("separable", inputs=["x"], outputs=["y"])
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (1, 3, h, h))
    g.add_constant("w0", randn(rng, c, 3, 3, 3, scale=0.3))
    g.nodes = [Node("stem", "Conv", ["x", "w0"], ["t0"], {"pads": [1, 1, 1, 1], **RELU6})]
    prev, ch = "t0", c
    for i in range(layers):
        stride = 2 if i % 2 else 1
        pads = [0, 0, 1, 1] if stride == 2 else [1, 1, 1, 1]
        g.add_constant(f"wd{i}", randn(rng, ch, 1, 3, 3, scale=1 / 3))
        g.add_constant(f"wp{i}", randn(rng, 2 * ch, ch, 1, 1, scale=1 / np.sqrt(ch)))
        out = "y" if i == layers - 1 else f"p{i}"
        g.nodes += [
            Node(f"dw{i}", "Conv", [prev, f"wd{i}"], [f"d{i}"],
                 {"group": ch, "pads": pads, "strides": [stride, stride], **RELU6}),
            Node(f"pw{i}", "Conv", [f"d{i}", f"wp{i}"], [out], dict(RELU6)),
        ]
        prev, ch = out, 2 * ch
    infer_shapes(g, default_registry())
    for value in g.constants.values():
        value.flags.writeable = False
    return g


@pytest.mark.parametrize("threads", [1, 2])
def test_depthwise_pointwise_pairs_and_arena_slots(threads, isa):
    """Pairs (no expand) fuse too: the arena keeps each block's input alive until its last
    conv (the block reads it until its last chunk), so none is refused for a shared slot:
    the first two pairs (2 and 8 KiB of weights) fuse, the third (32 KiB) does not, and its
    1x1 conv is the expand of the last run (its 1x1 convs on 14x14: the pixels-as-rows
    kernel). Bit-identical."""
    graph = separable_chain()
    fused, plain, got, want, x = run_both(graph, threads)
    np.testing.assert_array_equal(got["y"], want["y"])
    for _ in range(2):
        np.testing.assert_array_equal(fused.run({"x": x})["y"], want["y"])
    assert native_steps(fused) == native_steps(plain) - (4 if steps_saved(isa) else 0)


@pytest.mark.parametrize("case", ["small_image", "hardswish", "dw_output_used",
                                  "heavy_weights"])
def test_blocks_the_kernel_does_not_take_run_as_three_ops(case):
    graph = {"small_image": lambda: block_graph(32, 192, 32, 7, 7),
             "hardswish": lambda: block_graph(16, 64, 16, 48, 48, dw_act="hardswish"),
             "dw_output_used": lambda: block_graph(16, 64, 16, 48, 48, expose_dw=True),
             # 2 x 128 KiB of 1x1 weights, read again by each of 3 chunks
             "heavy_weights": lambda: block_graph(128, 256, 128, 56, 56)}[case]()
    fused, plain, got, want, x = run_both(graph, 2)
    assert native_steps(fused) == native_steps(plain)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    ref = Model(graph).session(["reference"]).run({"x": x})
    assert_rel_close(got["y"], ref["y"], 1e-5)


def test_fuse_blocks_option_is_checked():
    model = Model(block_graph(16, 64, 16, 48, 48))
    with pytest.raises(MaceError, match="cpu_fuse_blocks must be True or False"):
        model.session(["cpu"], cpu_fuse_blocks="yes").run(
            {"x": np.zeros((1, 16, 48, 48), np.float32)})


def test_cli_flag_turns_blocks_off():
    import argparse

    from mace_core.cli.common import add_device_options, device_options

    parser = argparse.ArgumentParser()
    add_device_options(parser)
    assert device_options(parser.parse_args(["--cpu-no-fuse-blocks"]))["cpu_fuse_blocks"] is False
    assert "cpu_fuse_blocks" not in device_options(parser.parse_args([]))
