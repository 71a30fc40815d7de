"""Sessions: input checks, placement with fallback, profiles, device errors."""

from __future__ import annotations

import numpy as np
import pytest

from mace_core.dtypes import DType
from mace_core.errors import DeviceUnavailable, InputError, MaceError, UnsupportedOpError
from mace_core.ir import Graph, Node, TensorDesc
from mace_core.runtime.model import Model
from mace_core.schema import OpSchema, same_as_input
from mace_core.specs import Capabilities, KernelSpec


def relu_add_graph() -> Graph:
    g = Graph("relu_add", inputs=["x"], outputs=["z"])
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (2, 3))
    g.add_constant("b", np.arange(3, dtype=np.float32))
    g.nodes = [Node("relu", "Relu", ["x"], ["y"]), Node("add", "Add", ["y", "b"], ["z"])]
    g.tensors["y"] = TensorDesc("y", DType.FLOAT32, (2, 3))
    g.tensors["z"] = TensorDesc("z", DType.FLOAT32, (2, 3))
    return g


def test_run_matches_numpy():
    session = Model(relu_add_graph()).session(["reference"])
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    out = session.run({"x": x})
    np.testing.assert_array_equal(out["z"], np.maximum(x, 0) + np.arange(3))


@pytest.mark.parametrize(
    "feeds, match",
    [
        ({}, "missing: x"),
        ({"x": np.zeros((2, 3), np.float32), "extra": np.zeros(1)}, "unknown: extra"),
        ({"x": np.zeros((2, 3), np.float64)}, "dtype float64.*expects float32.*astype"),
        ({"x": np.zeros((3, 2), np.float32)}, r"shape \[3, 2\].*expects \[2, 3\].*--input-shape"),
    ],
)
def test_bad_inputs_are_named(feeds, match):
    session = Model(relu_add_graph()).session(["reference"])
    with pytest.raises(InputError, match=match):
        session.run(feeds)


def test_unknown_device_lists_known_ones():
    with pytest.raises(DeviceUnavailable, match="no device named .tpu.*known: .*reference"):
        Model(relu_add_graph()).session(["tpu"])


def test_absent_device_is_skipped_with_reason():
    session = Model(relu_add_graph()).session(["tpu", "reference"])
    assert "tpu" in session.placement.unavailable
    assert session.placement.devices == ["reference"]


def test_profile_reports_each_op():
    session = Model(relu_add_graph()).session(["reference"], profile=True)
    session.run({"x": np.ones((2, 3), np.float32)})
    assert [p.node for p in session.last_profile] == ["relu", "add"]
    assert all(p.device == "reference" and p.time_ms >= 0 for p in session.last_profile)
    assert session.last_profile[0].output_bytes == 24


def test_memory_plan_made_per_device():
    session = Model(relu_add_graph()).session(["reference"])
    plan = session.memory_plans["reference"]
    assert plan.arena_size >= plan.lower_bound > 0


def test_placement_prefers_first_device_and_falls_back(mace_registry):
    """A second device with a kernel for Relu only: Add falls back to reference."""

    class Half:
        name = "half"

        def probe(self):
            return Capabilities("half", "cpu", "test device with one kernel")

    mace_registry._add_device(Half())
    mace_registry._add_kernel(KernelSpec("Relu", "half", fn=lambda x: np.maximum(x, 0)))
    session = Model(relu_add_graph(), registry=mace_registry).session(["half", "reference"])
    steps = session.placement.steps
    assert [(s.device, s.fallback) for s in steps] == [("half", False), ("reference", True)]
    assert session.placement.transfers == 1
    out = session.run({"x": -np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(out["z"], np.tile(np.arange(3, dtype=np.float32), (2, 1)))


def test_kernel_predicate_is_respected(mace_registry):
    class Picky:
        name = "picky"

        def probe(self):
            return Capabilities("picky", "cpu", "accepts only 4-D Relu")

    mace_registry._add_device(Picky())
    mace_registry._add_kernel(KernelSpec(
        "Relu", "picky", fn=lambda x: np.maximum(x, 0),
        when=lambda node, graph: len(graph.desc(node.inputs[0]).shape) == 4))
    session = Model(relu_add_graph(), registry=mace_registry).session(["picky", "reference"])
    assert session.placement.steps[0].device == "reference"


def test_op_without_kernel_anywhere(mace_registry):
    mace_registry._add_schema(OpSchema("Mystery", same_as_input(0), domain="x.y"))
    g = relu_add_graph()
    g.nodes.append(Node("m", "Mystery", ["z"], ["w"], domain="x.y"))
    g.tensors["w"] = TensorDesc("w", DType.FLOAT32, (2, 3))
    g.outputs = ["w"]
    with pytest.raises(UnsupportedOpError, match="x.y::Mystery: m"):
        Model(g, registry=mace_registry).session(["reference"])


def test_failing_probe_is_reported_not_raised(mace_registry):
    class Broken:
        name = "broken"

        def probe(self):
            raise RuntimeError("driver exploded")

    mace_registry._add_device(Broken())
    session = Model(relu_add_graph(), registry=mace_registry).session(["broken", "reference"])
    assert "driver exploded" in session.placement.unavailable["broken"]


def test_kernel_exception_names_the_node(mace_registry):
    class Faulty:
        name = "faulty"

        def probe(self):
            return Capabilities("faulty", "cpu", "raises")

    def boom(x):
        raise FloatingPointError("overflow")

    mace_registry._add_device(Faulty())
    mace_registry._add_kernel(KernelSpec("Relu", "faulty", fn=boom))
    session = Model(relu_add_graph(), registry=mace_registry).session(["faulty", "reference"])
    with pytest.raises(MaceError, match="node .relu..*faulty.*overflow"):
        session.run({"x": np.ones((2, 3), np.float32)})


def test_deployment_metadata_sets_session_defaults():
    g = relu_add_graph()
    g.metadata.update({"deploy.runtime": "tpu,reference", "deploy.gpu_storage": "buffer",
                       "deploy.kernel_time_limit_ms": "10"})
    model = Model(g)
    assert model.default_devices == ["tpu", "reference"]
    session = model.session()
    assert session.placement.devices == ["reference"] and "tpu" in session.placement.unavailable
    assert session.options == {"gpu_storage": "buffer", "gpu_kernel_time_limit_ms": 10.0}
    assert model.session(["reference"], gpu_storage="image").options["gpu_storage"] == "image"


def test_default_devices_without_deployment_metadata():
    assert Model(relu_add_graph()).default_devices == ["cpu", "reference"]


def test_scalar_input_keeps_its_shape():
    """A 0-d input reaches the kernels as a 0-d array (ascontiguousarray would make it 1-d)."""
    g = Graph("scalar", inputs=["x"], outputs=["y"])
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, ())
    g.tensors["y"] = TensorDesc("y", DType.FLOAT32, ())
    g.nodes = [Node("neg", "Neg", ["x"], ["y"])]
    out = Model(g).session(["reference"]).run({"x": np.array(2.5, np.float32)})["y"]
    assert out.shape == () and out == -2.5
