"""The memory planner: lifetimes, views and in-place, greedy-by-size offsets, bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mace_core._hookspecs import hookimpl
from mace_core.dtypes import DType
from mace_core.errors import ValidationError
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.memory import (
    Allocation,
    InvalidPlanError,
    MemoryPlan,
    compute_lifetimes,
    plan_memory,
    verify_plan,
)
from mace_core.memory.report import format_memory_table, memory_table
from mace_core.plugins import get_plugin_manager
from mace_core.registry import default_registry
from mace_core.runtime.session import Session

F32 = DType.FLOAT32


class Builder:
    """Builds a Graph node by node; op types are plain strings (no schemas needed)."""

    def __init__(self, name: str = "g") -> None:
        self.graph = Graph(name)
        self._count = 0

    def input(self, name: str, shape: tuple[int, ...], dtype: DType = F32) -> str:
        self.graph.inputs.append(name)
        self.graph.tensors[name] = TensorDesc(name, dtype, shape)
        return name

    def constant(self, name: str, shape: tuple[int, ...] = (4,)) -> str:
        return self.graph.add_constant(name, np.zeros(shape, np.float32))

    def op(self, op_type: str, inputs: list[str], *shapes: tuple[int, ...],
           dtype: DType = F32, dtypes: list[DType] | None = None, domain: str = "") -> list[str]:
        self._count += 1
        names = [f"{op_type.lower()}{self._count}_{i}" for i in range(len(shapes))]
        for name, shape, dt in zip(names, shapes, dtypes or [dtype] * len(shapes), strict=True):
            self.graph.tensors[name] = TensorDesc(name, dt, shape)
        self.graph.nodes.append(
            Node(f"n{self._count}", op_type, list(inputs), names, domain=domain)
        )
        return names

    def one(self, op_type: str, inputs: list[str], shape: tuple[int, ...], **kw) -> str:
        return self.op(op_type, inputs, shape, **kw)[0]

    def output(self, *names: str) -> Graph:
        self.graph.outputs.extend(names)
        return self.graph


# -- an independent check: run the plan on a simulated arena ------------------------------
SIM_VIEW = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
SIM_ELEMENTWISE = {"Relu", "Sigmoid", "Clip", "Add", "Mul"}


def simulate(graph: Graph, plan: MemoryPlan) -> None:
    """Execute ``graph`` on a byte arena laid out by ``plan``, tagging each byte with the
    tensor value it holds; fail if any read finds another value than the one written.

    Legality comes from op semantics here, not from the planner's tables: an output may
    coincide exactly with an input only for a view op (then nothing is written) or an
    elementwise op (which reads each element before writing it).
    """
    arena = np.full(plan.arena_size, -1, dtype=np.int64)
    allocs = plan.allocations
    content: dict[str, int] = {}
    planned = set(allocs)
    next_value = 0

    def region(name: str) -> tuple[int, int]:
        a = allocs[name]
        assert a.size >= graph.tensors[name].nbytes, f"{name} is smaller than its tensor"
        return a.offset, a.offset + a.size

    def check_read(name: str, when: str) -> None:
        lo, hi = region(name)
        assert (arena[lo:hi] == content[name]).all(), f"{name} was overwritten before {when}"

    for step, node in enumerate(graph.nodes):
        ins = [n for n in node.inputs if n in planned]
        for name in ins:
            check_read(name, f"step {step}")
        outs = [n for n in node.outputs if n in planned]
        assert set(outs) == {n for n in node.outputs if n and n not in graph.inputs}
        written: list[tuple[int, int]] = []
        for index, name in enumerate(outs):
            lo, hi = region(name)
            source = node.inputs[0] if node.inputs else ""
            if (index == 0 and node.op_type in SIM_VIEW and source in planned
                    and region(source)[0] == lo and hi - lo <= region(source)[1] - lo):
                content[name] = content[source]  # a view: same bytes, nothing written
                continue
            for other in ins:
                olo, ohi = region(other)
                if lo < ohi and olo < hi:
                    same = (olo, ohi) == (lo, hi)
                    assert same and node.op_type in SIM_ELEMENTWISE, (
                        f"{name} overwrites input {other} of {node.op_type} at step {step}")
            for wlo, whi in written:
                assert not (lo < whi and wlo < hi), f"two outputs of step {step} overlap"
            written.append((lo, hi))
            next_value += 1
            arena[lo:hi] = next_value
            content[name] = next_value
    for name in graph.outputs:
        if name in planned:
            check_read(name, "the end")


def check_plan(graph: Graph) -> MemoryPlan:
    plan = plan_memory(graph)
    verify_plan(plan, alignment=64)
    simulate(graph, plan)
    assert plan.lower_bound <= plan.arena_size <= plan.no_reuse
    assert plan.coloring >= plan.lower_bound
    ends = [a.offset + a.size for a in plan.allocations.values()]
    assert plan.arena_size == max(ends, default=0)
    return plan


# -- random DAGs -----------------------------------------------------------------------------
DTYPES = [DType.FLOAT32, DType.FLOAT16, DType.INT8]
VIEWS = ["Reshape", "Flatten", "Identity", "Dropout"]
POINTWISE = ["Relu", "Sigmoid", "Add", "Mul"]
PRODUCERS = ["Conv", "Concat", "Split"]


@st.composite
def random_graphs(draw) -> Graph:
    b = Builder("random")
    sizes = st.integers(0, 3000)
    pool = [b.input("x", (draw(sizes),), draw(st.sampled_from(DTYPES)))]
    b.constant("w")
    produced: list[str] = []
    for _ in range(draw(st.integers(1, 24))):
        op = draw(st.sampled_from(VIEWS + POINTWISE + PRODUCERS))
        pick = st.sampled_from(pool)
        if op in VIEWS:
            src = b.graph.tensors[draw(pick)]
            shape = (1, src.size) if draw(st.booleans()) else (src.size,)
            shapes = [shape, shape] if op == "Dropout" and draw(st.booleans()) else [shape]
            dts = [src.dtype, DType.BOOL][: len(shapes)]
            outs = b.op(op, [src.name, "w"] if op == "Reshape" else [src.name], *shapes,
                        dtypes=dts)
        elif op in ("Relu", "Sigmoid"):
            src = b.graph.tensors[draw(pick)]
            outs = b.op(op, [src.name], src.shape, dtype=src.dtype)
        elif op in ("Add", "Mul"):
            ins = [draw(pick), draw(pick)]
            like = b.graph.tensors[draw(st.sampled_from(ins))]
            outs = b.op(op, ins, like.shape, dtype=like.dtype)
        else:
            fan_in = draw(st.integers(1, 3)) if op == "Concat" else 1
            ins = [draw(pick) for _ in range(fan_in)] + (["w"] if op == "Conv" else [])
            fan_out = draw(st.integers(2, 3)) if op == "Split" else 1
            shapes = [(draw(sizes),) for _ in range(fan_out)]
            outs = b.op(op, ins, *shapes, dtype=draw(st.sampled_from(DTYPES)))
        pool.extend(outs)
        produced.extend(outs)
    extra = draw(st.lists(st.sampled_from(produced), unique=True, max_size=4))
    return b.output(*dict.fromkeys([produced[-1], *extra]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_random_dags_give_valid_plans_within_bounds(graph):
    plan = check_plan(graph)
    unaliased = plan_memory(graph, alias=False)
    verify_plan(unaliased)
    simulate(graph, unaliased)
    assert all(a.alias_of is None for a in unaliased.allocations.values())
    assert plan.lower_bound <= unaliased.lower_bound <= unaliased.arena_size <= plan.no_reuse


def test_simulator_catches_a_collision():
    b = Builder()
    x = b.input("x", (1024,))
    a = b.one("Conv", [x], (1024,))
    c = b.one("Conv", [a], (1024,))
    graph = b.output(c)
    plan = plan_memory(graph)
    assert plan.allocations[a].offset != plan.allocations[c].offset
    bad = dict(plan.allocations)
    bad[c] = Allocation(c, plan.allocations[a].offset, 4096, 1, 1)
    broken = MemoryPlan("any", bad, plan.arena_size, 0, 0, 0)
    with pytest.raises(AssertionError, match="overwrites input"):
        simulate(graph, broken)
    with pytest.raises(InvalidPlanError, match="share bytes"):
        verify_plan(broken)


# -- hand-made graphs with known optimal answers -----------------------------------------------
def test_chain():
    b = Builder("chain")
    x = b.input("x", (1, 3, 8, 8))
    a = b.one("Conv", [x, b.constant("w")], (1024,))
    m = b.one("Conv", [a], (2048,))
    c = b.one("Conv", [m], (512,))
    plan = check_plan(b.output(c))
    assert "x" not in plan.allocations and "w" not in plan.allocations
    assert [(al.first, al.last) for al in plan.allocations.values()] == [(0, 1), (1, 2), (2, 2)]
    assert plan.lower_bound == plan.arena_size == 4096 + 8192
    assert plan.no_reuse == 4096 + 8192 + 2048
    assert plan.coloring == 12288  # c reuses a's buffer


def test_diamond():
    b = Builder("diamond")
    x = b.input("x", (16,))
    a = b.one("Conv", [x], (1024,))
    left = b.one("Conv", [a], (512,))
    right = b.one("Conv", [a], (512,))
    d = b.one("Concat", [left, right], (1024,))
    plan = check_plan(b.output(d))
    live = {n: (al.first, al.last) for n, al in plan.allocations.items()}
    assert live == {a: (0, 2), left: (1, 3), right: (2, 3), d: (3, 3)}
    assert plan.lower_bound == plan.arena_size == plan.coloring == 8192
    assert plan.allocations[d].offset == plan.allocations[a].offset  # d reuses a's bytes


def test_residual_block_reuses_storage_in_place():
    b = Builder("residual")
    x = b.input("x", (1, 8, 8, 8))
    s = b.one("Conv", [x], (1, 16, 8, 8))  # 4096 B
    e = b.one("Conv", [s], (1, 32, 8, 8))  # 8192 B
    r = b.one("Relu", [e], (1, 32, 8, 8))  # in place over e
    p = b.one("Conv", [r], (1, 16, 8, 8))
    y = b.one("Add", [s, p], (1, 16, 8, 8))  # in place over s
    plan = check_plan(b.output(y))
    assert plan.allocations[r].alias_of == e and plan.allocations[y].alias_of == s
    assert (plan.allocations[s].first, plan.allocations[s].last) == (0, 4)
    assert plan.lower_bound == plan.arena_size == plan.coloring == 4096 + 8192 + 4096
    assert plan.no_reuse == 4096 + 8192 + 8192 + 4096 + 4096


# -- aliasing cases ----------------------------------------------------------------------------
def test_view_shares_storage_and_extends_root_lifetime():
    b = Builder()
    x = b.input("x", (64,))
    a = b.one("Conv", [x], (4, 16))
    v = b.one("Reshape", [a, b.constant("shape", (2,))], (64,))
    u = b.one("Conv", [x], (64,))
    c = b.one("Add", [v, u], (64,))
    plan = check_plan(b.output(c))
    root, view = plan.allocations[a], plan.allocations[v]
    assert view.alias_of == a and view.offset == root.offset
    assert (root.first, root.last) == (0, 3) and (view.first, view.last) == (1, 3)
    assert plan.allocations[c].alias_of == a  # Add writes over the view's storage


def test_view_of_graph_input_gets_its_own_storage():
    b = Builder()
    x = b.input("x", (64,))
    v = b.one("Flatten", [x], (1, 64))
    plan = check_plan(b.output(v))
    assert plan.allocations[v].alias_of is None and plan.arena_size == 256


def test_in_place_is_refused_where_it_would_be_wrong():
    b = Builder()
    x = b.input("x", (64,))
    a = b.one("Conv", [x], (64,))
    read_later = b.one("Relu", [a], (64,))  # a is read again by the Add
    c = b.one("Add", [a, read_later], (64,))  # may overwrite either: both die here
    v = b.one("Identity", [c], (64,))
    view_read_later = b.one("Relu", [c], (64,))  # c's view v is read by the Concat
    d = b.one("Concat", [v, view_read_later], (128,))
    other_dtype = b.one("Relu", [d], (256,), dtype=DType.FLOAT16)  # same bytes, other dtype
    e = b.one("Conv", [other_dtype], (64,))
    custom = b.one("Relu", [e], (64,), domain="com.example")
    exported = b.one("Relu", [custom], (64,))  # custom is a graph output
    plan = check_plan(b.output(custom, exported))
    refused = [read_later, view_read_later, other_dtype, custom, exported]
    assert [plan.allocations[n].alias_of for n in refused] == [None] * 5
    assert plan.allocations[c].alias_of in (a, read_later)
    assert plan.allocations[v].alias_of == plan.allocations[c].alias_of


def test_an_order_that_reads_before_producing_is_rejected():
    b = Builder()
    a = b.one("Conv", [b.input("x", (64,))], (64,))
    graph = b.output(b.one("Relu", [a], (64,)))
    with pytest.raises(ValidationError, match="reads 'conv1_0' before"):
        plan_memory(graph, list(reversed(graph.nodes)))


def test_dropout_output_is_a_view_and_its_mask_is_not():
    b = Builder()
    x = b.input("x", (64,))
    a = b.one("Conv", [x], (64,))
    out, mask = b.op("Dropout", [a], (64,), (64,), dtypes=[F32, DType.BOOL])
    plan = check_plan(b.output(out, mask))
    assert plan.allocations[out].alias_of == a and plan.allocations[mask].alias_of is None
    lifetimes = compute_lifetimes(b.graph, b.graph.nodes)
    assert lifetimes.tensors[out].reason == "view"
    assert lifetimes.storages[a].members == (a, out)
    ratio = b.constant("ratio", ())
    for training, aliased in [(b.input("training", (), DType.BOOL), False),
                              (b.graph.add_constant("on", np.array(True)), False),
                              (b.graph.add_constant("off", np.array(False)), True)]:
        kept = b.one("Dropout", [a, ratio, training], (64,))
        b.graph.outputs.append(kept)
        assert (check_plan(b.graph).allocations[kept].alias_of == a) is aliased


def test_view_whose_descriptor_has_another_byte_size_is_not_aliased():
    b = Builder()
    x = b.input("x", (64,))
    a = b.one("Conv", [x], (64,))
    v = b.one("Reshape", [a, b.constant("shape", (1,))], (128,))  # inconsistent descriptor
    plan = check_plan(b.output(v))
    assert plan.allocations[v].alias_of is None


def test_sizes_are_aligned_to_64_bytes():
    b = Builder()
    x = b.input("x", (3,))
    a = b.one("Conv", [x], (3,))  # 12 bytes
    c = b.one("Conv", [a], (17,), dtype=DType.INT8)
    plan = check_plan(b.output(c))
    assert plan.allocations[a].size == 64 and plan.allocations[c].size == 64


# -- verify_plan ---------------------------------------------------------------------------------
def test_verify_plan_rejects_bad_plans():
    ok = {"a": Allocation("a", 0, 64, 0, 1), "b": Allocation("b", 64, 64, 1, 2)}
    verify_plan(MemoryPlan("any", ok, 128, 128, 128, 128))
    clash = {"a": ok["a"], "b": Allocation("b", 32, 64, 1, 2)}
    with pytest.raises(InvalidPlanError, match="share bytes while both live at step 1"):
        verify_plan(MemoryPlan("any", clash, 128, 128, 128, 128))
    outside = {"a": ok["a"], "v": Allocation("v", 64, 64, 0, 1, alias_of="a")}
    with pytest.raises(InvalidPlanError, match="outside the bytes"):
        verify_plan(MemoryPlan("any", outside, 128, 128, 128, 128))
    outlives = {"a": ok["a"], "v": Allocation("v", 0, 64, 0, 3, alias_of="a")}
    with pytest.raises(InvalidPlanError, match="outlives"):
        verify_plan(MemoryPlan("any", outlives, 128, 128, 128, 128))
    with pytest.raises(InvalidPlanError, match="outside the arena"):
        verify_plan(MemoryPlan("any", ok, 100, 128, 128, 128))
    with pytest.raises(InvalidPlanError, match="aligned"):
        verify_plan(MemoryPlan("any", {"a": Allocation("a", 8, 64, 0, 1)}, 72, 0, 0, 0),
                    alignment=64)


# -- a MobileNetV2-shaped network ---------------------------------------------------------------
MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]  # expansion, channels, repeats, first stride


def mobilenet_v2(resolution: int = 224) -> Graph:
    """Inverted residual blocks with unfused Relu6 (Clip) and residual Adds, as in
    Sandler et al. 2018, at batch 1, float32."""
    b = Builder("mobilenet_v2")
    w = b.constant("w")
    size = resolution // 2
    t = b.one("Conv", [b.input("image", (1, 3, resolution, resolution)), w], (1, 32, size, size))
    t = b.one("Clip", [t], (1, 32, size, size))
    channels = 32
    for expansion, out_channels, repeats, first_stride in MOBILENET_V2:
        for i in range(repeats):
            stride = first_stride if i == 0 else 1
            block_in, hidden = t, channels * expansion
            if expansion != 1:
                t = b.one("Conv", [t, w], (1, hidden, size, size))
                t = b.one("Clip", [t], (1, hidden, size, size))
            size //= stride
            t = b.one("Conv", [t, w], (1, hidden, size, size))  # depthwise 3x3
            t = b.one("Clip", [t], (1, hidden, size, size))
            t = b.one("Conv", [t, w], (1, out_channels, size, size))  # linear bottleneck
            if stride == 1 and channels == out_channels:
                t = b.one("Add", [block_in, t], (1, out_channels, size, size))
            channels = out_channels
    t = b.one("Conv", [t, w], (1, 1280, size, size))
    t = b.one("Clip", [t], (1, 1280, size, size))
    t = b.one("GlobalAveragePool", [t], (1, 1280, 1, 1))
    t = b.one("Flatten", [t], (1, 1280))
    return b.output(b.one("Gemm", [t, w], (1, 1000)))


def test_mobilenet_v2_plan_is_close_to_the_lower_bound():
    graph = mobilenet_v2()
    plan = check_plan(graph)
    ratio = plan.arena_size / plan.lower_bound
    print(f"\nmobilenet_v2: lower bound {plan.lower_bound / 2**20:.3f} MiB, planned "
          f"{plan.arena_size / 2**20:.3f} MiB (x{ratio:.4f}), coloring "
          f"{plan.coloring / 2**20:.3f} MiB, no reuse {plan.no_reuse / 2**20:.3f} MiB")
    assert ratio <= 1.05
    assert plan.no_reuse > 5 * plan.arena_size
    # peak: block 2's expanded 96x112x112 map and its 96x56x56 depthwise output
    assert plan.lower_bound == 4 * 96 * (112 * 112 + 56 * 56)


def test_memory_table_reports_each_model():
    rows = memory_table([mobilenet_v2(), mobilenet_v2(96)])
    assert [r.model for r in rows] == ["mobilenet_v2", "mobilenet_v2"]
    assert rows[0].lower_bound == 4 * 96 * (112 * 112 + 56 * 56)
    assert rows[1].planned < rows[0].planned and rows[0].ratio <= 1.05
    assert rows[0].as_dict()["planned_mib"] == rows[0].planned / 2**20
    text = format_memory_table(rows)
    lines = text.splitlines()
    assert len(lines) == 3 and "lower bound" in lines[0] and "planned/lower" in lines[0]
    assert lines[1].startswith("mobilenet_v2") and "MiB" in lines[1]
    assert memory_table(mobilenet_v2(96))[0] == rows[1]


# -- the hook ------------------------------------------------------------------------------------
class ImagePlanner:
    """A device plugin with its own planner for its device only."""

    @hookimpl
    def mace_plan_memory(self, graph, order, device):
        return MemoryPlan(device, {}, 0, 0, 0, 0, "image-reuse") if device == "gpu" else None


def test_the_default_planner_answers_the_hook_unless_a_device_plugin_does():
    b = Builder("small")
    graph = b.output(b.one("Relu", [b.one("Conv", [b.input("x", (64,))], (64,))], (64,)))
    pm = get_plugin_manager()
    plan = pm.hook.mace_plan_memory(graph=graph, order=graph.nodes, device="gpu")
    assert plan.device == "gpu" and plan.algorithm == "greedy-by-size"
    assert plan.arena_size == 256
    pm.register(ImagePlanner(), name="image_planner")
    gpu = pm.hook.mace_plan_memory(graph=graph, order=graph.nodes, device="gpu")
    cpu = pm.hook.mace_plan_memory(graph=graph, order=graph.nodes, device="cpu")
    assert gpu.algorithm == "image-reuse" and cpu.algorithm == "greedy-by-size"


def test_a_session_plans_memory_for_its_device():
    b = Builder("session")
    s = b.one("Sigmoid", [b.input("x", (64,))], (64,))
    y = b.one("Relu", [s], (64,))
    session = Session(b.output(y), default_registry(), devices=("reference",))
    plan = session.memory_plans["reference"]
    verify_plan(plan)
    assert plan.allocations[y].alias_of == s
    x = np.linspace(-2, 2, 64, dtype=np.float32)
    out = session.run({"x": x})[y]
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-x)), rtol=1e-6)
