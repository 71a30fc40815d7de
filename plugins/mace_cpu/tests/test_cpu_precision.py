"""The ``cpu_precision`` session option (mace_cpu.precision): validated, reported per kernel
(``info["precision"]``) and by the device, and on CPUs without fp16 arithmetic (x86,
ARMv8.0 cores) a fallback to the fp32 kernels with outputs identical to
``cpu_precision="float32"``. The fp16 kernels themselves are checked under qemu-aarch64
(test_cpu_neon.py: -cpu max takes them, -cpu cortex-a53 does not)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from mace_core.cli.common import add_device_options, device_options
from mace_core.errors import MaceError
from mace_core.runtime.model import Model

from mace_cpu import native
from mace_cpu.device import CpuDevice
from mace_cpu.precision import f16_arith_supported

from cpu_helpers import assert_rel_close, node_graph, randn

# id: (op, inputs, constants, attrs): GEMM convs (1x1, shifted, im2col, groups), depthwise,
# Gemm / MatMul with a constant B, MatMul with two runtime operands
CASES = {
    "conv_1x1": ("Conv", {"x": (1, 16, 9, 10), "w": (24, 16, 1, 1), "b": (24,)},
                 {"activation": "Relu"}),
    "conv_shifted": ("Conv", {"x": (1, 8, 11, 12), "w": (12, 8, 3, 3), "b": (12,)},
                     {"pads": [1, 1, 1, 1], "activation": "Clip",
                      "activation_params": [0.0, 6.0]}),
    "conv_im2col": ("Conv", {"x": (1, 3, 17, 15), "w": (16, 3, 3, 3), "b": (16,)},
                    {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    "conv_groups": ("Conv", {"x": (2, 8, 9, 9), "w": (8, 2, 3, 3), "b": (8,)},
                    {"group": 4, "pads": [1, 1, 1, 1]}),
    "depthwise": ("Conv", {"x": (1, 8, 14, 13), "w": (8, 1, 3, 3), "b": (8,)},
                  {"group": 8, "pads": [1, 1, 1, 1]}),
    "gemm": ("Gemm", {"a": (13, 300), "w": (45, 300), "c": (45,)},
             {"transB": 1, "activation": "Tanh"}),
    "matmul": ("MatMul", {"a": (2, 5, 96), "w": (96, 33)}, {}),
    "matmul_runtime_b": ("MatMul", {"a": (3, 40, 17), "w": (3, 17, 9)}, {}),
}
CONSTANTS = ("w", "b", "c")
GEMM_PATH = {"conv_1x1", "conv_shifted", "conv_im2col", "conv_groups", "gemm", "matmul"}


def make(case: str):
    op, shapes, attrs = CASES[case]
    rng = np.random.default_rng(len(case))
    inputs = {name: randn(rng, *dims, scale=0.3 if name == "w" else 1.0)
              for name, dims in shapes.items()}
    constants = () if case == "matmul_runtime_b" else CONSTANTS
    graph = node_graph(op, inputs, constants=constants, attrs=attrs)
    return graph, {name: inputs[name] for name in graph.inputs}


def run(graph, feeds, threads: int = 1, **options):
    session = Model(graph).session(["cpu"], cpu_threads=threads, **options)
    return session.run(feeds)[graph.outputs[0]], session._runners[0].info


@pytest.mark.parametrize("case", list(CASES))
def test_precision_is_reported_and_falls_back_where_unsupported(case, isa, threads,
                                                                monkeypatch):
    monkeypatch.setenv("MACE_CPU_CONV_ALGO", "shifted")  # 3x3 stride 1: not Winograd here
    graph, feeds = make(case)
    y32, info32 = run(graph, feeds, threads)
    y16, info16 = run(graph, feeds, threads, cpu_precision="float16")
    assert info32["precision"] == "float32" and info32["isa"] == isa
    if case in GEMM_PATH and f16_arith_supported(isa):  # an aarch64 CPU with asimdhp
        assert info16["precision"] == "float16"
        assert_rel_close(y16, y32, 1e-2)  # the fp16 rule of test_cpu_neon.py
    else:  # the fp32 kernels, bit for bit
        assert info16["precision"] == "float32"
        assert info16.get("weight_dtype") == info32.get("weight_dtype")
        assert np.array_equal(y16, y32)


@pytest.mark.skipif(any(f16_arith_supported(i) for i in native.supported_isas()),
                    reason="this CPU has fp16 arithmetic: no fallback to check")
def test_fallback_with_fp16_weights_equals_fp16_weights_alone(threads):
    """cpu_precision=float16 on top of cpu_weight_dtype=float16 changes nothing here."""
    graph, feeds = make("gemm")
    y_w, info_w = run(graph, feeds, threads, cpu_weight_dtype="float16")
    y_both, info_both = run(graph, feeds, threads, cpu_weight_dtype="float16",
                            cpu_precision="float16")
    assert np.array_equal(y_both, y_w)
    assert info_both["weight_dtype"] == info_w["weight_dtype"] == "float16"
    assert info_both["precision"] == "float32"


@pytest.mark.parametrize("case", ["conv_1x1", "gemm", "matmul"])
@pytest.mark.parametrize("value", ["fp16", "half", "float64", "FLOAT16"])
def test_unknown_precision_is_an_error_naming_the_choices(case, value):
    graph, feeds = make(case)
    with pytest.raises(MaceError, match=f"cpu_precision must be one of float32, float16, "
                                        f"got '{value}'"):
        run(graph, feeds, cpu_precision=value)


def test_explicit_float32_is_the_default():
    graph, feeds = make("conv_1x1")
    y_default, info_default = run(graph, feeds)
    y32, info32 = run(graph, feeds, cpu_precision="float32")
    assert np.array_equal(y_default, y32) and info_default == info32


def test_device_reports_the_capability():
    details = CpuDevice().probe().details
    chosen = native.isa()
    supported = f16_arith_supported(chosen)
    assert details["fp16_arithmetic"].startswith("yes" if supported else "no")
    if supported:  # asimdhp is what enables it
        assert chosen == "neon" and "asimdhp" in native.cpu_features()
    for name in native.supported_isas():
        if name != "neon":  # only the neon ISA has the fp16 kernels
            assert not f16_arith_supported(name)


def test_cli_flag_sets_the_option():
    parser = argparse.ArgumentParser()
    add_device_options(parser)
    assert device_options(parser.parse_args(["--cpu-precision", "float16"]))[
        "cpu_precision"] == "float16"
    assert "cpu_precision" not in device_options(parser.parse_args([]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--cpu-precision", "fp8"])
