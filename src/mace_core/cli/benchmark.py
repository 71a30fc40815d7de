"""``mace benchmark MODEL.pb``: warm-up, N timed runs, median / p90, per-op table."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mace_core.cli.common import add_device_options, device_options, split_devices
from mace_core.cli.run import DEVICE_HELP


def add_parser(sub) -> None:
    p = sub.add_parser(
        "benchmark", help="time a converted model",
        description="Load MODEL.pb, run --warmup untimed runs, then --runs timed runs on random "
        "inputs; print load time, first-run time, median / p90 latency and a per-op table "
        "(from a profiled run).",
    )
    p.add_argument("model", type=Path)
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--runs", type=int, default=20, help="timed runs (default 20)")
    p.add_argument("--top", type=int, default=15, help="rows of the per-op table (default 15)")
    add_device_options(p)
    p.set_defaults(func=run)


def print_op_table(profiles, top: int = 15) -> None:
    """Per-op-type totals and the slowest nodes, averaged over the given profiled runs."""
    by_node: dict[str, list] = {}
    for profile in profiles:
        for op in profile:
            by_node.setdefault(op.node, []).append(op)
    rows = [(float(np.mean([o.time_ms for o in ops])), ops[0]) for ops in by_node.values()]
    total = sum(t for t, _ in rows) or 1.0
    by_type: dict[tuple[str, str], list[float]] = {}
    for t, op in rows:
        by_type.setdefault((op.op_type, op.device), []).append(t)
    print(f"\n  {'op type':<24} {'device':<10} {'count':>5} {'ms':>9} {'%':>6}")
    for (op_type, device), times in sorted(by_type.items(), key=lambda kv: -sum(kv[1])):
        ms = sum(times)
        print(f"  {op_type:<24} {device:<10} {len(times):>5} {ms:>9.3f} {100 * ms / total:>5.1f}%")
    print(f"\n  slowest nodes ({min(top, len(rows))} of {len(rows)}):")
    for t, op in sorted(rows, key=lambda r: -r[0])[:top]:
        fb = "  (fallback)" if op.fallback else ""
        print(f"  {op.node[:40]:<40} {op.op_type:<18} {op.device:<10} {t:>8.3f} ms{fb}")


def run(args) -> int:
    import mace_core

    t0 = time.perf_counter()
    model = mace_core.load(args.model)
    session = model.session(split_devices(args.device), **device_options(args))
    load_ms = (time.perf_counter() - t0) * 1e3
    feeds = session.random_inputs()
    t0 = time.perf_counter()
    session.run(feeds)
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(args.warmup):
        session.run(feeds)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        session.run(feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    session.profile_enabled = True
    profiles = []
    for _ in range(min(3, max(1, args.runs))):
        session.run(feeds)
        profiles.append(session.last_profile)
    counts = ", ".join(f"{d}: {n} ops" for d, n in session.placement.counts().items())
    print(f"{model.name} on {counts}")
    print(f"  load+place+plan {load_ms:.1f} ms, first run {first_ms:.1f} ms")
    print(f"  {args.runs} runs: median {np.median(times):.3f} ms, "
          f"p90 {np.percentile(times, 90):.3f} ms, min {min(times):.3f} ms")
    print_op_table(profiles, args.top)
    return 0
