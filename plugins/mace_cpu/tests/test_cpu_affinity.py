"""CPU clusters from sysfs and the ``cpu_affinity`` option: cluster detection and policies
on fake sysfs trees, then pinning on this machine: each pool thread's mask read back (from
C with sched_getaffinity and from /proc/self/task/TID/status), the CPUs tasks really ran
on, the calling thread's mask while and after it runs ops, results equal to an unpinned
run, and the errors."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import pytest
from mace_core.cli.common import add_device_options, device_options
from mace_core.errors import MaceError
from mace_core.ir import Graph
from mace_core.registry import default_registry
from mace_core.runtime.model import Model

from mace_cpu import native
from mace_cpu.affinity import (
    Cluster,
    detect_clusters,
    format_cpus,
    online_cpus,
    parse_cpus,
    policy_cpus,
)
from mace_cpu.threads import ThreadPool, pool_for

from cpu_helpers import node_graph, randn


def fake_sysfs(root: Path, online: str, freqs: dict[int, int] | None = None,
               caps: dict[int, int] | None = None) -> Path:
    """A /sys/devices/system/cpu tree with an online list, max frequencies and capacities."""
    (root / "online").write_text(online + "\n")
    for cpu in parse_cpus(online):
        (root / f"cpu{cpu}").mkdir(parents=True, exist_ok=True)
    for cpu, khz in (freqs or {}).items():
        (root / f"cpu{cpu}" / "cpufreq").mkdir(parents=True, exist_ok=True)
        (root / f"cpu{cpu}" / "cpufreq" / "cpuinfo_max_freq").write_text(f"{khz}\n")
    for cpu, capacity in (caps or {}).items():
        (root / f"cpu{cpu}" / "cpu_capacity").write_text(f"{capacity}\n")
    return root


# -- clusters and policies on fake trees -------------------------------------------------------
def test_big_little_4_plus_4(tmp_path):
    freqs = {c: 1_800_000 if c < 4 else 2_400_000 for c in range(8)}
    clusters = detect_clusters(fake_sysfs(tmp_path, "0-7", freqs))
    assert clusters == [Cluster((4, 5, 6, 7), max_freq_khz=2_400_000),
                        Cluster((0, 1, 2, 3), max_freq_khz=1_800_000)]
    assert policy_cpus("big", clusters) == (4, 5, 6, 7)
    assert policy_cpus("little", clusters) == (0, 1, 2, 3)
    assert policy_cpus("none", clusters) is None
    assert [c.describe() for c in clusters] == ["4-7 @ 2.40 GHz", "0-3 @ 1.80 GHz"]


def test_tri_cluster_big_is_everything_but_the_little_cores(tmp_path):
    freqs = {**{c: 1_785_600 for c in range(4)}, 4: 2_419_200, 5: 2_419_200, 6: 2_419_200,
             7: 2_841_600}
    clusters = detect_clusters(fake_sysfs(tmp_path, "0-7", freqs))
    assert [c.cpus for c in clusters] == [(7,), (4, 5, 6), (0, 1, 2, 3)]
    assert policy_cpus("big", clusters) == (4, 5, 6, 7)
    assert policy_cpus("little", clusters) == (0, 1, 2, 3)


def test_no_cpufreq_groups_by_capacity(tmp_path):
    caps = {c: 446 if c < 6 else 1024 for c in range(8)}
    clusters = detect_clusters(fake_sysfs(tmp_path, "0-7", caps=caps))
    assert clusters == [Cluster((6, 7), capacity=1024), Cluster(tuple(range(6)), capacity=446)]
    assert policy_cpus("big", clusters) == (6, 7)


def test_partial_cpufreq_falls_back_to_capacity(tmp_path):
    root = fake_sysfs(tmp_path, "0-3", freqs={0: 1_000_000, 1: 1_000_000},
                      caps={0: 512, 1: 512, 2: 1024, 3: 1024})
    assert [c.cpus for c in detect_clusters(root)] == [(2, 3), (0, 1)]


def test_no_cpufreq_no_capacity_is_one_cluster(tmp_path):
    clusters = detect_clusters(fake_sysfs(tmp_path, "0-2,4"))  # cpu3 offline
    assert clusters == [Cluster((0, 1, 2, 4))]
    assert policy_cpus("big", clusters) == policy_cpus("little", clusters) == (0, 1, 2, 4)
    assert clusters[0].describe() == "0-2,4"


def test_online_cpus_without_an_online_file(tmp_path):
    for cpu in (0, 1, 3):
        (tmp_path / f"cpu{cpu}").mkdir()
    (tmp_path / "cpufreq").mkdir()
    assert online_cpus(tmp_path) == (0, 1, 3)


def test_cpu_lists():
    assert parse_cpus("0-3,6") == (0, 1, 2, 3, 6)
    assert parse_cpus(" 5 , 1-2 ") == (1, 2, 5)
    assert format_cpus((6, 0, 1, 2, 3, 9, 10)) == "0-3,6,9-10"
    for bad in ("", "a", "3-1", "1,,2", "-1"):
        with pytest.raises(ValueError):
            parse_cpus(bad)
    assert policy_cpus("2-3", [Cluster((0, 1, 2, 3))]) == (2, 3)


def test_unknown_policy_is_an_error():
    with pytest.raises(MaceError, match="expected none, big, little or a CPU list"):
        pool_for({"cpu_affinity": "biggest"})
    with pytest.raises(MaceError, match="must be a string"):
        pool_for({"cpu_affinity": 3})


# -- this machine ------------------------------------------------------------------------------
ALLOWED = tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else ()
needs_two = pytest.mark.skipif(len(ALLOWED) < 2, reason="pinning to a strict subset of this "
                               "process's CPUs needs at least 2 of them")


def own_cpus() -> tuple[int, ...]:
    return tuple(sorted(os.sched_getaffinity(0)))


@pytest.fixture(autouse=True)
def _own_mask_back():
    """The test thread follows pinned pools; whatever a test did, the next starts free."""
    yield
    if ALLOWED and own_cpus() != ALLOWED:
        os.sched_setaffinity(0, ALLOWED)


def proc_cpus(tid: int) -> tuple[int, ...]:
    """The allowed CPUs of thread ``tid`` of this process, from /proc."""
    status = Path(f"/proc/self/task/{tid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("Cpus_allowed_list:"))
    return parse_cpus(line.split(":", 1)[1])


def thread_cpus(pool: ThreadPool, i: int) -> tuple[int, ...]:
    ffi, lib = native.load()
    out = ffi.new("int[1024]")
    count = lib.mc_threads_worker_cpus(pool.ptr, i, out, 1024)
    assert count > 0, f"sched_getaffinity of pool thread {i} failed: {-count}"
    return tuple(out[0:count])


def test_clusters_of_this_machine_cover_its_online_cpus():
    clusters = detect_clusters()
    assert sorted(c for cluster in clusters for c in cluster.cpus) == list(online_cpus())
    details = default_registry().probe("cpu").details
    assert details["clusters"] == ", ".join(c.describe() for c in clusters)


@needs_two
def test_pinned_threads_run_only_on_the_chosen_cpus():
    chosen = ALLOWED[-1:]
    ffi, lib = native.load()
    pool = pool_for({"cpu_affinity": format_cpus(chosen), "cpu_threads": 3})
    assert pool.count == 3 and pool.cpus == chosen
    for i in range(1, pool.count):  # workers: from C, and as the kernel reports them
        assert thread_cpus(pool, i) == chosen
        assert proc_cpus(lib.mc_threads_worker_tid(pool.ptr, i)) == chosen
    assert thread_cpus(pool, 0) == chosen  # the caller as it runs an op
    workers_ran = False
    for _ in range(20):  # each task yields, so threads sharing the CPU take turns
        cpu, thread = ffi.new("int[64]"), ffi.new("int[64]")
        assert lib.mc_threads_probe(pool.ptr, 64, cpu, thread) == 0
        assert set(cpu) <= set(chosen), f"tasks ran on CPUs {sorted(set(cpu))}"
        workers_ran = any(t > 0 for t in thread)
        if workers_ran:
            break
    assert workers_ran, "no task ran on a worker thread"


@needs_two
def test_the_caller_follows_the_pool_it_runs_ops_on():
    _, lib = native.load()
    chosen = ALLOWED[:1]
    pinned, free = ThreadPool(2, chosen), ThreadPool(2)
    assert own_cpus() == ALLOWED  # creating a pinned pool leaves the caller alone
    assert thread_cpus(pinned, 0) == chosen
    assert own_cpus() == chosen  # kept between ops: no syscalls per op
    assert thread_cpus(free, 0) == ALLOWED and own_cpus() == ALLOWED  # an unpinned pool
    assert thread_cpus(pinned, 0) == chosen
    del pinned
    gc.collect()
    assert own_cpus() == ALLOWED  # freed by the thread it pinned: its own mask back


def test_unpinned_pool_keeps_the_process_cpus():
    pool = pool_for({"cpu_threads": 2})
    assert pool.cpus is None and thread_cpus(pool, 1) == ALLOWED


def small_net(rng) -> Graph:
    """A Conv 3x3 with ReLU (a GEMM split over the pool's threads)."""
    return node_graph("Conv", {"x": randn(rng, 1, 8, 12, 12), "w": randn(rng, 16, 8, 3, 3),
                               "b": randn(rng, 16)}, constants=("w", "b"),
                      attrs={"pads": [1, 1, 1, 1], "activation": "Relu"})


@needs_two
def test_pinned_results_equal_unpinned():
    rng = np.random.default_rng(0)
    graph = small_net(rng)
    x = {"x": randn(rng, 1, 8, 12, 12)}
    pinned = Model(graph).session(["cpu"], cpu_threads=2, cpu_affinity=str(ALLOWED[0]))
    free = Model(graph).session(["cpu"], cpu_threads=2)
    assert pinned._runners[0].info["threads"] == 2
    for _ in range(3):
        assert np.array_equal(pinned.run(x)["y0"], free.run(x)["y0"])


def test_default_threads_follow_the_policy():
    rng = np.random.default_rng(1)
    graph = small_net(rng)
    for policy in ("big", "little", str(ALLOWED[0])):
        session = Model(graph).session(["cpu"], cpu_affinity=policy)
        expected = policy_cpus(policy, detect_clusters())
        assert session._runners[0].info["threads"] == len(expected)


def test_cpus_outside_the_allowed_set_are_an_error():
    outside = max(ALLOWED) + 1
    with pytest.raises(MaceError, match=rf"{outside} are outside this process's allowed "
                       rf"CPUs \({format_cpus(ALLOWED)}.*cpu_affinity='none'"):
        pool_for({"cpu_affinity": f"0,{outside}"})


def test_os_refusal_is_reported_with_the_cpus():
    with pytest.raises(MaceError, match=r"cannot pin 2 CPU threads to CPU\(s\) 1000: "
                       r"Invalid argument .*cpu_affinity='none'"):
        ThreadPool(2, (1000,))


def test_cli_passes_the_policy():
    import argparse

    parser = argparse.ArgumentParser()
    add_device_options(parser)
    args = parser.parse_args(["--threads", "4", "--cpu-affinity", "big",
                              "--cpu-weight-dtype", "float16"])
    assert device_options(args) == {"cpu_threads": 4, "cpu_affinity": "big",
                                    "cpu_weight_dtype": "float16"}
