"""Fused partitions: a cpu partition run by one C call over a step list (mace_cpu.fused)
gives bit-identical outputs to the per-op runners, with Python runners in between for
ops without a native step; profiling still times every op."""

from __future__ import annotations

import gc
import os
import time

import attrs
import numpy as np
import pytest
from mace_core.dtypes import DType
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes
from test_cpu_model import mobilenet_like

import mace_cpu
from mace_cpu.threads import pool_for

from cpu_helpers import assert_rel_close, randn


def every_kind() -> Graph:
    """One op of each native step kind (ConvTranspose, MaxPool, unary, binary both ways,
    Clip with constant bounds, AveragePool, GAP, Reshape views, Gemm with a scalar bias,
    MatMul with B an input), a Clip whose bound is an input (a Python runner), and
    outputs taken from the middle, from a view and from a view of an input."""
    rng = np.random.default_rng(7)
    g = Graph("every_kind", inputs=["x", "lo", "b"],
              outputs=["logits", "mm", "a", "r", "xr"])
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (1, 4, 8, 8))
    g.tensors["lo"] = TensorDesc("lo", DType.FLOAT32, ())
    g.tensors["b"] = TensorDesc("b", DType.FLOAT32, (256, 6))
    g.add_constant("wt", randn(rng, 4, 4, 2, 2, scale=0.5))
    g.add_constant("bt", randn(rng, 4, scale=0.1))
    g.add_constant("cmin", np.array(-0.5, np.float32))
    g.add_constant("cmax", np.array(1.5, np.float32))
    g.add_constant("shape", np.array([1, 256], np.int64))
    g.add_constant("fc_w", randn(rng, 256, 10, scale=0.1))
    g.add_constant("fc_c", np.array([0.25], np.float32))
    g.add_constant("half", np.array([0.5], np.float32))
    g.nodes = [
        Node("up", "ConvTranspose", ["x", "wt", "bt"], ["t"], {"strides": [2, 2]}),
        Node("mp", "MaxPool", ["t"], ["p"], {"kernel_shape": [2, 2], "strides": [2, 2]}),
        Node("sig", "Sigmoid", ["p"], ["s"]),
        Node("add", "Add", ["s", "x"], ["a"]),
        Node("clip", "Clip", ["a", "cmin", "cmax"], ["c"]),
        Node("clip_in", "Clip", ["c", "lo"], ["d"]),
        Node("avg", "AveragePool", ["d"], ["e"], {"kernel_shape": [3, 3],
                                                   "pads": [1, 1, 1, 1]}),
        Node("gap", "GlobalAveragePool", ["e"], ["gp"]),
        Node("scale", "Mul", ["gp", "e"], ["m"]),
        Node("sub", "Sub", ["half", "m"], ["n"]),
        Node("view", "Reshape", ["n", "shape"], ["r"]),
        Node("fc", "Gemm", ["r", "fc_w", "fc_c"], ["logits"]),
        Node("mm", "MatMul", ["r", "b"], ["mm"]),
        Node("xview", "Flatten", ["x"], ["xr"], {"axis": 1}),
    ]
    infer_shapes(g, default_registry())
    for value in g.constants.values():
        value.flags.writeable = False  # as in a loaded model
    return g


def feeds_every_kind(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": randn(rng, 1, 4, 8, 8), "lo": np.array(0.1 * seed, np.float32),
            "b": randn(rng, 256, 6)}


def fused_units(session):
    return [unit for unit in session._fused_units if unit.step is None]


def assert_same(fused: dict, per_op: dict) -> None:
    assert fused.keys() == per_op.keys()
    for name, value in per_op.items():
        np.testing.assert_array_equal(fused[name], value, err_msg=name)


def test_every_step_kind_matches_the_per_op_runners(isa, threads):
    graph = every_kind()
    session = Model(graph).session(["cpu"], cpu_threads=threads)
    units = fused_units(session)
    assert len(units) == 1 and len(session._fused_units) == 1
    info = units[0].runner.info
    assert info["ops"] == len(graph.nodes) and info["python_ops"] == 1  # clip_in
    reference = Model(graph).session(["reference"])
    for seed in range(3):
        feeds = feeds_every_kind(seed)
        fused = {k: v.copy() for k, v in session.run(feeds).items()}
        session.fuse_enabled = False
        per_op = session.run(feeds)
        session.fuse_enabled = True
        assert_same(fused, per_op)
        ref = reference.run(feeds)
        for name in graph.outputs:
            assert_rel_close(fused[name], ref[name], what=name)


def test_mobilenet_like_fused_is_bit_identical(isa, threads):
    graph = mobilenet_like(seed=3)
    fused_session = Model(graph).session(["cpu", "reference"], cpu_threads=threads)
    per_op_session = Model(graph).session(["cpu", "reference"], cpu_threads=threads,
                                          fuse_partitions=False)
    assert len(fused_units(fused_session)) == 1
    assert not fused_units(per_op_session)
    for seed in range(2):
        feeds = {"x": randn(np.random.default_rng(seed), 1, 3, 32, 32)}
        assert_same(fused_session.run(feeds), per_op_session.run(feeds))


def test_outputs_survive_the_next_run():
    session = Model(every_kind()).session(["cpu"], cpu_threads=1)
    first = session.run(feeds_every_kind(1))
    kept = {k: v.copy() for k, v in first.items()}
    second = session.run(feeds_every_kind(2))
    for name, value in kept.items():
        np.testing.assert_array_equal(first[name], value, err_msg=name)
        assert not np.array_equal(second[name], value), name


def test_profiling_times_every_op_and_fusing_resumes_after():
    graph = mobilenet_like()
    session = Model(graph).session(["cpu", "reference"], cpu_threads=1, profile=True)
    feeds = {"x": randn(np.random.default_rng(0), 1, 3, 32, 32)}
    profiled = {k: v.copy() for k, v in session.run(feeds).items()}
    assert [p.node for p in session.last_profile] == [n.name for n in graph.nodes]
    assert all(p.time_ms >= 0 and p.kernel.startswith("cpu:") for p in session.last_profile)
    session.profile_enabled = False
    calls = []
    unit = fused_units(session)[0]
    runner = unit.runner

    def counting(args):
        calls.append(len(args))
        return runner(args)

    session._fused_units[0] = attrs.evolve(unit, runner=counting)
    assert_same(session.run(feeds), profiled)
    assert calls == [1] and session.last_profile == []


def test_profiled_runs_time_the_fused_run():
    """A profiled run is the fused run with each op timed (the C steps one by one, the
    Python runner in between): the fused runner's ``timed`` runs it, every node is listed
    once in order, views cost nothing, the times add up to at most the run's and the
    outputs are those of an unprofiled run."""
    graph = every_kind()
    session = Model(graph).session(["cpu"], cpu_threads=2)
    expected = {k: v.copy() for k, v in session.run(feeds_every_kind(1)).items()}
    unit = fused_units(session)[0]
    calls = []

    def timed(args):
        calls.append(len(args))
        return unit.runner.timed(args)

    def untimed(args):
        raise AssertionError("a profiled run goes through timed")

    untimed.timed = timed
    session._fused_units[0] = attrs.evolve(unit, runner=untimed)
    session.profile_enabled = True
    start = time.perf_counter()
    profiled = session.run(feeds_every_kind(1))
    wall_ms = (time.perf_counter() - start) * 1e3
    assert calls == [len(unit.inputs)]
    profile = session.last_profile
    assert [p.node for p in profile] == [n.name for n in graph.nodes]
    by_node = {p.node: p for p in profile}
    assert by_node["view"].time_ms == by_node["xview"].time_ms == 0.0  # views
    assert by_node["clip_in"].time_ms > 0 and by_node["up"].time_ms > 0  # Python, C
    assert by_node["fc"].output_bytes == 10 * 4
    assert sum(p.time_ms for p in profile) <= wall_ms
    assert_same(profiled, expected)


def test_partitions_around_a_reference_op_fuse_separately():
    """Identity runs on the reference device: two cpu partitions, each one unit."""
    rng = np.random.default_rng(3)
    g = Graph("split", inputs=["x"], outputs=["y"])
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (1, 8, 6, 6))
    for i in range(4):
        g.add_constant(f"w{i}", randn(rng, 8, 8, 1, 1, scale=0.4))
    g.nodes = [
        Node("c0", "Conv", ["x", "w0"], ["a"], {"activation": "Relu"}),
        Node("c1", "Conv", ["a", "w1"], ["b"]),
        Node("id", "Identity", ["b"], ["i"]),
        Node("c2", "Conv", ["i", "w2"], ["c"], {"activation": "Relu"}),
        Node("sum", "Add", ["c", "a"], ["y"]),
    ]
    infer_shapes(g, default_registry())
    session = Model(g).session(["cpu", "reference"], cpu_threads=1)
    assert [s.device for s in session.placement.steps] == ["cpu"] * 2 + ["reference"] + \
        ["cpu"] * 2
    assert [u.step is None for u in session._fused_units] == [True, False, True]
    feeds = {"x": randn(rng, 1, 8, 6, 6)}
    fused = session.run(feeds)["y"].copy()
    session.fuse_enabled = False
    assert_same({"y": fused}, session.run(feeds))
    assert_rel_close(fused, Model(g).session(["reference"]).run(feeds)["y"])


def test_a_failing_step_is_reported_with_its_index():
    ffi, lib = mace_cpu.load()
    steps = ffi.new("mc_step[]", 2)
    bufs = ffi.new("float *[]", 2)
    x = np.ones(4, np.float32)
    bufs[0] = bufs[1] = ffi.from_buffer("float[]", x)
    for s in steps:
        s.isa, s.outer, s.out = 0, 4, 1
        setattr(s, "in", [0, -1, -1])
    steps[0].kind, steps[0].code = lib.MC_STEP_UNARY, 1  # ReLU
    steps[1].kind = 99
    failed = ffi.new("int *", -1)
    status = lib.mc_steps_run(steps, 2, bufs, ffi.NULL, ffi.NULL, failed, ffi.NULL)
    assert status == lib.MC_ERR_ARG
    assert failed[0] == 1


def test_step_lists_time_runs_with_and_without_the_workers():
    """On a pool of two, the first run uses the workers and the second the caller alone (to
    time both; later runs take the faster): both give the per-op outputs. One thread: no
    timing at all."""
    graph = mobilenet_like(seed=5)
    feeds = {"x": randn(np.random.default_rng(5), 1, 3, 32, 32)}
    for threads, timed in ((2, True), (1, False)):
        session = Model(graph).session(["cpu", "reference"], cpu_threads=threads)
        runner = fused_units(session)[0].runner
        stats = [seg for seg in runner.segments if seg[0] == "c"][0][4]
        outputs = [{k: v.copy() for k, v in session.run(feeds).items()} for _ in range(3)]
        assert (stats.seconds[0] > 0 and stats.seconds[1] > 0) == timed
        assert (stats.runs > 0) == timed
        session.fuse_enabled = False
        per_op = session.run(feeds)
        for out in outputs:
            assert_same(out, per_op)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and two CPUs to keep a worker off the caller's")
def test_parallel_runs_keep_the_workers_off_the_callers_cpu():
    allowed = os.sched_getaffinity(0)
    session = Model(mobilenet_like(seed=6)).session(["cpu", "reference"], cpu_threads=2)
    feeds = {"x": randn(np.random.default_rng(6), 1, 3, 32, 32)}
    session.run(feeds)  # the first run of a step list uses the workers
    ffi, lib = mace_cpu.load()
    pool = pool_for(session.options)
    worker = os.sched_getaffinity(lib.mc_threads_worker_tid(pool.ptr, 1))
    assert worker < allowed and len(worker) == len(allowed) - 1
    del session, pool
    gc.collect()  # the pool goes: later tests get a fresh one


@pytest.mark.parametrize("linger", [0, 250])
def test_cpu_linger_us_gives_the_session_a_pool_of_its_own(linger):
    """``cpu_linger_us`` sets how long the workers spin after a run; pools are shared per
    value, so sessions that differ in it do not change each other's pool, and the outputs
    are those of the default pool."""
    graph = mobilenet_like(seed=0)
    feeds = {"x": randn(np.random.default_rng(0), 1, 3, 32, 32)}
    default = Model(graph).session(["cpu"], cpu_threads=2)
    quiet = Model(graph).session(["cpu"], cpu_threads=2, cpu_linger_us=linger)
    assert pool_for(quiet.options).linger_us == linger
    assert pool_for(default.options).linger_us == int(
        os.environ.get("MACE_CPU_LINGER_US") or 1000)
    assert pool_for(quiet.options) is not pool_for(default.options)
    for _ in range(3):
        expected, got = default.run(feeds), quiet.run(feeds)
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize("value", [-1, "soon", 2.5])
def test_bad_cpu_linger_us_is_a_clear_error(value):
    graph = mobilenet_like(seed=0)
    with pytest.raises(MaceError, match="cpu_linger_us must be a whole number"):
        Model(graph).session(["cpu"], cpu_threads=2, cpu_linger_us=value)
