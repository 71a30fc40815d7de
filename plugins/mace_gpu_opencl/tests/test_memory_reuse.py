"""GPU output memory reuse: outputs equal those without reuse and the reference, blocks are
shared only by tensors of disjoint lifetimes, and the report's figures are ordered."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_cases import MODE_IDS, MODES, check, rand
from test_graph import _graph, tiny_cnn  # noqa: F401  (fixture)

from mace_core.ir import Graph, Node
from mace_core.runtime.model import Model
from mace_gpu_opencl.memory import Allocator, Lifetimes, gpu_lifetimes, gpu_memory_report
from mace_gpu_opencl.tensor import BUFFER, IMAGE


def _run(graph: Graph, feeds, reuse: bool, storage: str, half: bool, devices=("gpu",)):
    session = Model(graph).session([*devices, "reference"], gpu_storage=storage,
                                   gpu_fp16_storage=half, gpu_memory_reuse=reuse)
    out = session.run(feeds)
    return out, session


def _chain(length: int = 6) -> Graph:
    names = ["x"] + [f"t{i}" for i in range(length)]
    nodes = [Node(f"n{i}", "Relu" if i % 2 else "Sigmoid", [names[i]], [names[i + 1]])
             for i in range(length)]
    return _graph(nodes, [("x", (1, 8, 5, 7))], [names[-1]])


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("which", ["raw", "fused"])
def test_tiny_cnn_same_outputs_with_reuse(gpu, tiny_cnn, which, mode):  # noqa: F811
    graph = tiny_cnn[which]
    storage, half = mode
    feeds = Model(graph).session(["reference"]).random_inputs(seed=5)
    reference = Model(graph).session(["reference"]).run(feeds)["probs"]
    plain, _ = _run(graph, feeds, False, storage, half)
    reused, session = _run(graph, feeds, True, storage, half)
    again = session.run(feeds)  # a second run over the same shared blocks
    np.testing.assert_array_equal(reused["probs"], plain["probs"])
    np.testing.assert_array_equal(again["probs"], plain["probs"])
    check(reused["probs"], reference, half, "probs")


def test_chain_shares_blocks(gpu):
    graph = _chain(6)
    feeds = {"x": rand(1, 8, 5, 7, seed=1, scale=2.0)}
    expected = Model(graph).session(["reference"]).run(feeds)["t5"]
    for storage in (IMAGE, BUFFER):
        out, session = _run(graph, feeds, True, storage, False)
        allocator = session.options["_gpu_allocator"][1]
        if storage == IMAGE:  # two alternating blocks for the chain, the output its own
            assert len(allocator.blocks) == 3 < len(allocator.requests) == 6
        else:  # one arena of two (aligned) slots: at most two tensors are ever live
            (arena,) = allocator.blocks
            slot = -(-8 * 5 * 7 * 4 // allocator.alignment) * allocator.alignment
            assert arena.extent == (2 * slot,)
        check(out["t5"], expected, False, "t5")
    report = gpu_memory_report(graph)
    assert report["blocks"] == 3 and report["tensors"] == 6
    assert gpu_memory_report(graph, storage=BUFFER)["blocks"] == 1


def test_arena_offsets_disjoint_while_live():
    """Buffers through the offset planner: requests live at the same step never share
    bytes, offsets are aligned, and the arena is the lower bound here."""
    nodes = [Node(f"n{i}", "Relu", [], [f"t{i}"]) for i in range(5)]
    release = {"t0": 2, "t1": 1, "t2": 4, "t3": 4, "t4": 4}  # t4: to the end
    lifetimes = Lifetimes(step={id(n): i for i, n in enumerate(nodes)}, release=release,
                          pinned=frozenset({"t4"}))
    made: list[tuple] = []
    subs: dict[str, tuple[int, int]] = {}
    allocator = Allocator(lifetimes, lambda s, h, e: made.append(e) or len(made),
                          sub=lambda mem, offset, n: (mem, offset, n), alignment=64)
    views = [(1, 4, 4, 4), (1, 8, 2, 2), (1, 4, 4, 4), (1, 4, 2, 2), (1, 4, 1, 1)]
    requests = [(n, v, BUFFER, False) for n, v in zip(nodes, views, strict=True)]
    allocator.plan(requests)
    for node, view, _, _ in requests:
        mem, offset, nbytes = allocator.take(node, view, BUFFER, False)
        assert mem == 1 and offset % 64 == 0
        subs[node.outputs[0]] = (offset, offset + nbytes)
    for a in subs:
        for b in subs:
            live_a = (int(a[1:]), release[a])
            live_b = (int(b[1:]), release[b])
            if a < b and live_a[0] <= live_b[1] and live_b[0] <= live_a[1]:
                assert subs[a][1] <= subs[b][0] or subs[b][1] <= subs[a][0], (a, b)
    # peak: t0 and t2 live at step 2 (256 + 256 bytes); t1, t3 and the pinned t4 (live
    # from step 4 to the end) fit around them
    assert made == [(512,)]
    assert allocator.planned == allocator.lower_bound == 512


def test_tensor_read_by_the_host_later_is_kept(gpu):
    """t0 is read by Cos (reference) after three GPU ops that could otherwise reuse it."""
    graph = _graph([Node("a", "Relu", ["x"], ["t0"]), Node("b", "Sigmoid", ["t0"], ["t1"]),
                    Node("c", "Relu", ["t1"], ["t2"]), Node("d", "Sigmoid", ["t2"], ["t3"]),
                    Node("cos", "Cos", ["t0"], ["k"]), Node("add", "Add", ["k", "t3"], ["y"])],
                   [("x", (1, 4, 3, 3))], ["y"])
    feeds = {"x": rand(1, 4, 3, 3, seed=2, scale=2.0)}
    expected = Model(graph).session(["reference"]).run(feeds)["y"]
    for mode in ("always", "auto"):
        session = Model(graph).session(["gpu", "reference"], gpu_device_tensors=mode)
        check(session.run(feeds)["y"], expected, False, "y")


def test_allocator_least_waste_and_disjoint_lifetimes():
    """Images are reused only when both sides fit, the least wasteful first."""
    nodes = [Node(f"n{i}", "Relu", [], [f"t{i}"]) for i in range(4)]
    lifetimes = Lifetimes(step={id(n): i for i, n in enumerate(nodes)},
                          release={"t0": 0, "t1": 1, "t2": 3, "t3": 3}, pinned=frozenset())
    made: list[tuple] = []
    allocator = Allocator(lifetimes, lambda s, h, e: made.append(e) or len(made))
    assert allocator.take(nodes[0], (1, 8, 4, 10), IMAGE, False) == 1  # 20 x 4 texels
    assert allocator.take(nodes[1], (1, 4, 6, 6), IMAGE, False) == 2  # 6 x 6: n0 too short
    # 5 x 3 fits both free blocks; 6 x 6 = 36 texels wastes less than 20 x 4 = 80
    assert allocator.take(nodes[2], (1, 4, 3, 5), IMAGE, False) == 2
    assert allocator.take(nodes[3], (1, 4, 3, 5), IMAGE, False) == 1  # block 2 busy to 3
    assert made == [(20, 4), (6, 6)]
    assert allocator.lower_bound <= allocator.planned <= allocator.no_reuse


def test_lifetimes_follow_views_and_pin_outputs():
    graph = _graph([Node("a", "Relu", ["x"], ["t0"]),
                    Node("r", "Reshape", ["t0", "s"], ["v"]),
                    Node("b", "Sigmoid", ["t0"], ["t1"]),
                    Node("q", "Reshape", ["t1", "s"], ["w"]),
                    Node("c", "Add", ["w", "v"], ["y"])],
                   [("x", (1, 4, 3, 3))], ["y"], {"s": np.array([1, 36], np.int64)})
    life = gpu_lifetimes(graph, lambda n: True)
    assert life.release["t0"] == 4  # read through its view v at step 4
    assert life.pinned == {"y"}
    host = gpu_lifetimes(graph, lambda n: n.op_type != "Add")
    assert host.pinned == {"t0", "v", "t1", "w", "y"}


@pytest.fixture(scope="module")
def ppocr_cls(tmp_path_factory):
    from mace_core.catalog import CATALOG
    from mace_core.cli.zoo import convert_entry
    from mace_core.fetch import fetch
    from mace_core.runtime.model import load

    entry = CATALOG["ppocr-v2-cls"]
    fetch(entry, log=lambda m: None)
    return load(convert_entry(entry, tmp_path_factory.mktemp("zoo_reuse")))


@pytest.mark.slow
@pytest.mark.parametrize("storage", [IMAGE, BUFFER])
def test_zoo_model_same_outputs_with_reuse(gpu, ppocr_cls, storage):
    reference = ppocr_cls.session(["reference"])
    feeds = reference.random_inputs(seed=0)
    expected = reference.run(feeds)
    devices = ["gpu", "cpu", "reference"]
    plain = ppocr_cls.session(devices, gpu_storage=storage, gpu_memory_reuse=False).run(feeds)
    session = ppocr_cls.session(devices, gpu_storage=storage)
    reused = session.run(feeds)
    allocator = session.options["_gpu_allocator"][1]
    assert len(allocator.blocks) < len(allocator.requests)
    for name, value in expected.items():
        np.testing.assert_array_equal(reused[name], plain[name])
        check(reused[name], value, False, name)
    report = gpu_memory_report(ppocr_cls.graph, storage=storage)
    assert report["lower_bound"] <= report["planned"] < report["no_reuse"]


def test_info_memory_device_gpu(tmp_path, capsys):
    from mace_core.cli.main import main
    from mace_core.model_format import save_model

    path = tmp_path / "chain.pb"
    save_model(_chain(4), tmp_path, "chain")
    assert main(["info", "--memory", "--device", "gpu", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()[-3:]
    image, buffer, whole = (line.split() for line in lines)
    assert image[:2] == [str(path), "[image]"] and image[-2:] == ["3", "4"]  # blocks, tensors
    assert buffer[:2] == [str(path), "[buffer]"] and buffer[-2:] == ["1", "4"]  # one arena
    # whole buffers reused (NVIDIA's default): blocks as for images
    assert lines[2].startswith(f"{path} [buffer, whole blocks]") and whole[-2:] == ["3", "4"]


def test_plan_grows_a_block_to_its_largest_request():
    """Planned ahead, a small tensor may take a block that a larger one later grows."""
    nodes = [Node(f"n{i}", "Relu", [], [f"t{i}"]) for i in range(3)]
    lifetimes = Lifetimes(step={id(n): i for i, n in enumerate(nodes)},
                          release={"t0": 1, "t1": 2, "t2": 2}, pinned=frozenset())
    made: list[tuple] = []
    allocator = Allocator(lifetimes, lambda s, h, e: made.append(e) or len(made))
    views = [(1, 4, 2, 2), (1, 4, 2, 2), (1, 4, 8, 8)]
    allocator.plan([(n, v, BUFFER, False) for n, v in zip(nodes, views, strict=True)])
    mems = [allocator.take(n, v, BUFFER, False) for n, v in zip(nodes, views, strict=True)]
    assert mems == [1, 2, 1]  # t2 reuses t0's block, created once at t2's size
    assert made == [(8 * 8 * 16,), (2 * 2 * 16,)]


@pytest.mark.slow
def test_zoo_model_plan_near_lower_bound(ppocr_cls):
    report = gpu_memory_report(ppocr_cls.graph, storage=BUFFER)
    assert report["planned"] <= 1.1 * report["lower_bound"]  # offset plan, alignment 128


def test_buffer_arena_option(gpu):
    """gpu_buffer_arena: auto is on except on NVIDIA; False reuses whole buffers; the
    outputs are the same either way; a bad value is refused with the choices."""
    import attrs

    from mace_core.errors import MaceError
    from mace_gpu_opencl.kernels.base import buffer_arena

    assert buffer_arena("auto", attrs.evolve(gpu.info, vendor="NVIDIA Corporation")) is False
    assert buffer_arena("auto", attrs.evolve(gpu.info, vendor="QUALCOMM")) is True
    graph = _chain(6)
    feeds = {"x": rand(1, 8, 5, 7, seed=3, scale=2.0)}
    outs = {}
    for arena in (True, False):
        session = Model(graph).session(["gpu"], gpu_storage=BUFFER, gpu_buffer_arena=arena)
        outs[arena] = session.run(feeds)["t5"]
        blocks = session.options["_gpu_allocator"][1].blocks
        assert len(blocks) == (1 if arena else 3)
    np.testing.assert_array_equal(outs[True], outs[False])
    with pytest.raises(MaceError, match="gpu_buffer_arena must be"):
        Model(graph).session(["gpu"], gpu_storage=BUFFER, gpu_buffer_arena="yes").run(feeds)
