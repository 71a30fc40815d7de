"""Whole graphs on ["gpu", "reference"]: tensors stay on the device between GPU ops,
move to the host only for other devices, and outputs match the reference."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_cases import MODE_IDS, MODES, check, rand

from mace_core.dtypes import DType
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes
from mace_gpu_opencl.tensor import GpuTensor


def transfers_of_one_run(gpu, session, feeds):
    before = dict(gpu.transfers)
    out = session.run(feeds)
    return out, {k: v - before.get(k, 0) for k, v in gpu.transfers.items()
                 if v != before.get(k, 0)}


@pytest.fixture(scope="module")
def tiny_cnn(tmp_path_factory):
    pytest.importorskip("onnx", reason="the tiny CNN is built with onnx")
    from mace_core.pipeline import import_model, optimize
    from mace_core.specs import ConvertOptions
    from mace_core.testing import make_tiny_cnn

    path = make_tiny_cnn(tmp_path_factory.mktemp("cnn") / "tiny_cnn.onnx", batch=2)
    raw = import_model(path, ConvertOptions())
    fused = import_model(path, ConvertOptions())
    optimize(fused)
    return {"raw": raw, "fused": fused}


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("which", ["raw", "fused"])
def test_tiny_cnn_runs_on_the_gpu(gpu, tiny_cnn, which, mode):
    graph = tiny_cnn[which]
    storage, half = mode
    ref_session = Model(graph).session(["reference"])
    feeds = ref_session.random_inputs(seed=3)
    reference = ref_session.run(feeds)["probs"]
    session = Model(graph).session(["gpu", "reference"], gpu_storage=storage,
                                   gpu_fp16_storage=half)
    assert {s.device for s in session.placement.steps} == {"gpu"}
    out, moved = transfers_of_one_run(gpu, session, feeds)
    assert moved == {"upload": 1, "download": 1}  # the input in, the probabilities out
    check(out["probs"], reference, half, "probs")


def _graph(nodes, inputs, outputs, constants=None) -> Graph:
    graph = Graph("mixed", inputs=[n for n, _ in inputs], outputs=outputs)
    for name, shape in inputs:
        graph.tensors[name] = TensorDesc(name, DType.FLOAT32, shape)
    for name, value in (constants or {}).items():
        graph.add_constant(name, value)
    graph.nodes = nodes
    infer_shapes(graph, default_registry())
    return graph


def test_host_ops_in_between_get_numpy(gpu):
    """Conv (gpu) -> Cos (reference) -> Relu (gpu): downloaded for Cos only."""
    graph = _graph([Node("conv", "Conv", ["x", "w"], ["c"], {"pads": [1, 1, 1, 1]}),
                    Node("cos", "Cos", ["c"], ["k"]),
                    Node("relu", "Relu", ["k"], ["y"])], [("x", (1, 3, 6, 6))], ["y"],
                   {"w": rand(5, 3, 3, 3)})
    session = Model(graph).session(["gpu", "reference"])
    assert [s.device for s in session.placement.steps] == ["gpu", "reference", "gpu"]
    feeds = {"x": rand(1, 3, 6, 6, seed=4, scale=1.0)}
    out, moved = transfers_of_one_run(gpu, session, feeds)
    assert moved == {"upload": 2, "download": 2}
    check(out["y"], Model(graph).session(["reference"]).run(feeds)["y"], False)


def test_graph_edited_between_sessions(gpu):
    """Which outputs are downloaded follows the graph as it is when a session is made."""
    graph = _graph([Node("relu", "Relu", ["x"], ["r"]), Node("cos", "Cos", ["r"], ["y"])],
                   [("x", (1, 3, 4, 4))], ["y"])
    feeds = {"x": rand(1, 3, 4, 4, seed=7, scale=1.0)}
    _, moved = transfers_of_one_run(gpu, Model(graph).session(["gpu", "reference"]), feeds)
    assert moved == {"upload": 1, "download": 1}  # Relu's output, for Cos
    graph.nodes[1] = Node("sig", "Sigmoid", ["r"], ["y"])
    session = Model(graph).session(["gpu", "reference"])
    out, moved = transfers_of_one_run(gpu, session, feeds)
    assert moved == {"upload": 1, "download": 1}  # the graph output only
    check(out["y"], 1 / (1 + np.exp(-np.maximum(feeds["x"], 0))), False)


def test_storage_falls_back_to_buffers_per_node(gpu):
    """A tensor wider than the image limit puts its nodes on buffers; the neighbours stay
    on images, and each crossing is one device copy."""
    width = gpu.info.image2d_max[0] + 8
    graph = _graph([Node("relu", "Relu", ["x"], ["r"]),
                    Node("flat", "Reshape", ["r", "shape"], ["f"]),
                    Node("max", "ReduceMax", ["f"], ["m"], {"axes": [3]}),
                    Node("sig", "Sigmoid", ["m"], ["y"])],
                   [("x", (1, 4, 2, width // 2))], ["y"],
                   {"shape": np.array([1, 4, 1, width], np.int64)})
    session = Model(graph).session(["gpu"], gpu_storage="image")
    feeds = {"x": rand(1, 4, 2, width // 2, seed=5, scale=1.0)}
    out, moved = transfers_of_one_run(gpu, session, feeds)
    assert moved == {"upload": 1, "download": 1, "convert": 2}
    check(out["y"], Model(graph).session(["reference"]).run(feeds)["y"], False)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 3, 4), (2, 6, 3, 5)])
def test_gpu_tensor_round_trip(gpu, shape, mode):
    storage, half = mode
    x = rand(*shape, seed=6, scale=3.0) if shape else np.array(1.25, np.float32)
    t = GpuTensor.upload(gpu, x, storage, half)
    back = np.asarray(t)
    assert back.shape == x.shape and back.dtype == np.float32
    expected = x.astype(np.float16).astype(np.float32) if half else x
    np.testing.assert_array_equal(back, expected)
    other = t.to_storage("buffer" if storage == "image" else "image")
    np.testing.assert_array_equal(np.asarray(other), expected)
    assert t.nbytes == x.nbytes and repr(t).startswith("<GpuTensor float32")


def test_auto_storage_by_vendor(gpu):
    """auto: buffers on NVIDIA (and where float images are unusable), image2d elsewhere."""
    import attrs

    from mace_gpu_opencl.kernels.base import GpuConfig, default_storage

    info = gpu.info
    assert default_storage(attrs.evolve(info, vendor="NVIDIA Corporation")) == "buffer"
    assert default_storage(attrs.evolve(info, vendor="QUALCOMM", float_images=True)) == "image"
    assert default_storage(attrs.evolve(info, vendor="ARM", float_images=False)) == "buffer"
    assert GpuConfig.from_options({}, gpu).storage == default_storage(info)
    assert GpuConfig.from_options({"gpu_storage": "buffer"}, gpu).storage == "buffer"


def test_device_tensor_modes(gpu):
    from mace_core.errors import MaceError

    graph = _graph([Node("relu", "Relu", ["x"], ["y"])], [("x", (1, 2, 3, 3))], ["y"])
    with pytest.raises(MaceError, match="gpu_device_tensors must be one of"):
        Model(graph).session(["gpu"], gpu_device_tensors="sometimes")
    with pytest.raises(MaceError, match=r"gpu_storage must be one of \('auto', 'image'"):
        Model(graph).session(["gpu"], gpu_storage="texture")
