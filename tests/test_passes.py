"""Graph passes: each keeps the reference outputs (allclose 1e-5) and makes its change."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from mace_core.dtypes import DType
from mace_core.errors import ValidationError
from mace_core.ir import Graph, Layout, Node, TensorDesc
from mace_core.passes.constant_folding import fold_and_infer
from mace_core.passes.graph_edit import set_constant
from mace_core.passes.layout import insert_layout_transforms, node_layouts
from mace_core.pipeline import optimize
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes
from mace_core.specs import PassContext

RNG = np.random.default_rng(0)


def n(op: str, inputs: list[str], outputs: list[str] | str, **attrs) -> Node:
    outputs = [outputs] if isinstance(outputs, str) else outputs
    return Node(f"{op.lower()}_{outputs[0]}", op, inputs, outputs, attrs)


def w(*shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return RNG.uniform(low, high, shape).astype(np.float32)


def build(registry, nodes, inputs, outputs, constants=(), *, infer=True) -> Graph:
    """A graph of float32 ``inputs`` (name -> shape), shapes inferred unless ``infer=False``."""
    graph = Graph("test", nodes=nodes, inputs=list(inputs), outputs=list(outputs))
    for name, shape in inputs.items():
        graph.tensors[name] = TensorDesc(name, DType.FLOAT32, tuple(shape))
    for name, value in dict(constants).items():
        set_constant(graph, name, value)  # Graph.add_constant would make 0-d values 1-d
    graph.validate()
    if infer:
        infer_shapes(graph, registry)
    return graph


def run(graph: Graph, registry, seed: int = 1) -> dict[str, np.ndarray]:
    session = Model(graph, registry=registry).session(["reference"])
    return session.run(session.random_inputs(seed))


def apply(graph: Graph, registry, name: str, **options) -> bool:
    """Run one registered pass the way ``optimize`` does; returns whether it changed anything."""
    (spec,) = [p for p in registry.passes if p.name == name]
    changed = spec.fn(graph, PassContext(registry=registry, options=options))
    graph.validate()
    infer_shapes(graph, registry)
    return changed


def check(graph: Graph, registry, name: str, *, expect_change: bool = True, **options) -> Graph:
    """Apply pass ``name`` to a copy of ``graph``; same outputs; returns the copy."""
    after = copy.deepcopy(graph)
    assert apply(after, registry, name, **options) is expect_change
    before_out, after_out = run(graph, registry), run(after, registry)
    assert list(after_out) == list(before_out) == graph.outputs
    for key, value in before_out.items():
        np.testing.assert_allclose(after_out[key], value, rtol=1e-5, atol=1e-5, err_msg=key)
    return after


def ops(graph: Graph) -> list[str]:
    return [node.op_type for node in graph.nodes]


# -- constant folding -------------------------------------------------------------------
def test_constant_subexpression_folds(mace_registry):
    c1, c2, c3 = w(2, 3), w(2, 3), w(2, 3)
    graph = build(mace_registry, [n("Add", ["c1", "c2"], "s"), n("Mul", ["s", "c3"], "t"),
                                  n("Mul", ["x", "t"], "y")],
                  {"x": (2, 3)}, ["y"], {"c1": c1, "c2": c2, "c3": c3})
    after = check(graph, mace_registry, "constant_folding")
    assert ops(after) == ["Mul"]
    np.testing.assert_allclose(after.constants["t"], (c1 + c2) * c3, rtol=1e-6)


def test_shape_and_size_of_static_tensor_fold(mace_registry):
    graph = build(mace_registry, [n("Shape", ["x"], "sh", start=1), n("Cast", ["sh"], "shf", to=1),
                                  n("Size", ["x"], "sz"), n("Cast", ["sz"], "szf", to=1),
                                  n("Mul", ["shf", "szf"], "k"), n("Add", ["v", "k"], "y")],
                  {"x": (2, 3, 4), "v": (2,)}, ["y"])
    after = check(graph, mace_registry, "constant_folding")
    assert ops(after) == ["Add"]
    assert after.constants["sh"].tolist() == [3, 4] and after.constants["szf"] == 24
    np.testing.assert_array_equal(after.constants["k"], [72, 96])


def test_fold_and_infer_resolves_shape_subgraph(mace_registry):
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape: inference alone cannot do it."""
    nodes = [n("Shape", ["x"], "sh"), n("Gather", ["sh", "zero"], "d0", axis=0),
             n("Unsqueeze", ["d0", "axes"], "d"), n("Concat", ["d", "minus1"], "target", axis=0),
             n("Reshape", ["x", "target"], "y")]
    consts = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64),
              "minus1": np.array([-1], np.int64)}
    graph = build(mace_registry, nodes, {"x": (2, 3, 4)}, ["y"], consts, infer=False)
    with pytest.raises(ValidationError, match="target shape"):
        infer_shapes(copy.deepcopy(graph), mace_registry)
    assert fold_and_infer(graph, mace_registry) == 4
    assert ops(graph) == ["Reshape"] and graph.desc("y").shape == (2, 12)
    x = w(2, 3, 4)
    out = Model(graph, registry=mace_registry).session(["reference"]).run({"x": x})
    np.testing.assert_array_equal(out["y"], x.reshape(2, 12))


def test_large_outputs_fold_only_under_the_limit(mace_registry):
    nodes = [n("ConstantOfShape", ["dims"], "big", value=np.array([1.5], np.float32)),
             n("Add", ["x", "big"], "y")]
    graph = build(mace_registry, nodes, {"x": (4, 8)}, ["y"], {"dims": np.array([4, 8])})
    kept = check(graph, mace_registry, "constant_folding", expect_change=False,
                 fold_max_elements=16)
    assert ops(kept) == ["ConstantOfShape", "Add"]
    folded = check(graph, mace_registry, "constant_folding")
    assert ops(folded) == ["Add"]


def test_large_value_folds_when_a_shape_needs_it(mace_registry):
    nodes = [n("ConstantOfShape", ["two"], "dims", value=np.array([3], np.int64)),
             n("Reshape", ["x", "dims"], "y"),
             n("Expand", ["one", "dims2"], "big"), n("Add", ["x2", "big"], "z")]
    consts = {"two": np.array([2], np.int64), "one": np.array([1.0], np.float32),
              "dims2": np.array([4, 8], np.int64)}
    graph = build(mace_registry, nodes, {"x": (9,), "x2": (4, 8)}, ["y", "z"], consts,
                  infer=False)
    assert fold_and_infer(graph, mace_registry, max_elements=1) == 1
    assert ops(graph) == ["Reshape", "Expand", "Add"]
    assert graph.desc("y").shape == (3, 3)


def test_graph_outputs_are_not_folded(mace_registry):
    graph = build(mace_registry, [n("Relu", ["x"], "y"), n("Add", ["c1", "c2"], "k")],
                  {"x": (3,)}, ["y", "k"], {"c1": w(3), "c2": w(3)})
    check(graph, mace_registry, "constant_folding", expect_change=False)


# -- dead nodes ---------------------------------------------------------------------------
def test_dead_nodes_and_constants_are_removed(mace_registry):
    graph = build(mace_registry, [n("Relu", ["x"], "a"), n("Add", ["a", "unused_c"], "b"),
                                  n("Tanh", ["x"], "y")],
                  {"x": (2, 3)}, ["y"], {"unused_c": w(3), "orphan": w(5)})
    after = check(graph, mace_registry, "dead_nodes")
    assert ops(after) == ["Tanh"]
    assert not after.constants and set(after.tensors) == {"x", "y"}


# -- batchnorm folding ----------------------------------------------------------------------
def bn_constants(channels: int) -> dict[str, np.ndarray]:
    return {"gamma": w(channels, low=0.5, high=1.5), "beta": w(channels),
            "mean": w(channels), "var": w(channels, low=0.1, high=2.0)}


def bn(x: str, y: str) -> Node:
    return n("BatchNormalization", [x, "gamma", "beta", "mean", "var"], y, epsilon=1e-3)


BN_CASES = {
    "conv_bias": ([n("Conv", ["x", "w", "b"], "c", pads=[1, 1, 1, 1])], (1, 3, 6, 6),
                  {"w": w(4, 3, 3, 3), "b": w(4)}, 4),
    "conv_grouped": ([n("Conv", ["x", "w"], "c", group=2)], (1, 4, 5, 5),
                     {"w": w(6, 2, 3, 3)}, 6),
    "conv_transpose": ([n("ConvTranspose", ["x", "w"], "c", group=2, strides=[2, 2])],
                       (1, 4, 5, 5), {"w": w(4, 3, 3, 3)}, 6),
    "gemm_transb": ([n("Gemm", ["x", "w", "b"], "c", transB=1, alpha=0.5, beta=2.0)],
                    (2, 5), {"w": w(4, 5), "b": w(4)}, 4),
    "gemm_no_bias": ([n("Gemm", ["x", "w"], "c")], (2, 5), {"w": w(5, 4)}, 4),
}


@pytest.mark.parametrize("case", sorted(BN_CASES))
def test_batchnorm_folds_into_producer(mace_registry, case):
    nodes, shape, consts, channels = BN_CASES[case]
    graph = build(mace_registry, [*copy.deepcopy(nodes), bn("c", "y")], {"x": shape}, ["y"],
                  {**consts, **bn_constants(channels)})
    after = check(graph, mace_registry, "batchnorm_folding")
    assert ops(after) == [nodes[0].op_type]
    assert after.nodes[0].outputs == ["y"] and len(after.nodes[0].inputs) == 3
    assert "gamma" not in after.constants


def test_batchnorm_left_alone_when_shared_or_standalone(mace_registry):
    nodes = [n("Conv", ["x", "w"], "c"), bn("c", "y"), n("Relu", ["c"], "r")]
    graph = build(mace_registry, nodes, {"x": (1, 2, 4, 4)}, ["y", "r"],
                  {"w": w(3, 2, 1, 1), **bn_constants(3)})
    check(graph, mace_registry, "batchnorm_folding", expect_change=False)
    alone = build(mace_registry, [n("Relu", ["x"], "c"), bn("c", "y")], {"x": (1, 3, 2, 2)},
                  ["y"], bn_constants(3))
    check(alone, mace_registry, "batchnorm_folding", expect_change=False)


# -- activation fusion ------------------------------------------------------------------------
ACTIVATIONS = {
    "Relu": ({}, [], []),
    "LeakyRelu": ({"alpha": 0.2}, [], [0.2]),
    "Sigmoid": ({}, [], []),
    "Tanh": ({}, [], []),
    "HardSigmoid": ({"alpha": 0.3, "beta": 0.4}, [], [0.3, 0.4]),
    "HardSwish": ({}, [], []),
    "Clip": ({"min": -0.5, "max": 0.5}, [], [-0.5, 0.5]),
    "Clip-inputs": ({}, ["lo", "hi"], [-0.25, 0.75]),
    "Clip-max-only": ({}, ["", "hi"], [-np.inf, 0.75]),
}


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_activation_fuses_into_conv(mace_registry, act):
    attrs, extra, params = ACTIVATIONS[act]
    op = act.split("-")[0]
    nodes = [n("Conv", ["x", "w"], "c", pads=[1, 1, 1, 1]), n(op, ["c", *extra], "y", **attrs)]
    consts = {"w": w(4, 3, 3, 3), "lo": np.array(-0.25, np.float32),
              "hi": np.array(0.75, np.float32)}
    graph = build(mace_registry, nodes, {"x": (1, 3, 5, 5)}, ["y"], consts)
    after = check(graph, mace_registry, "activation_fusion")
    (conv,) = after.nodes
    assert conv.outputs == ["y"] and conv.attrs["activation"] == op
    np.testing.assert_allclose(conv.attrs["activation_params"], params, rtol=1e-6)


PRODUCER_CASES = {
    "ConvTranspose": ((1, 3, 4, 4), ["x", "k"], {"strides": [2, 2]}),
    "Gemm": ((2, 5), ["x", "m", "bias"], {"transB": 1}),
    "MatMul": ((2, 5), ["x", "mt"], {}),
    "Add": ((2, 5), ["x", "x"], {}),
    "Sub": ((2, 5), ["x", "row"], {}),
    "Mul": ((2, 5), ["x", "row"], {}),
    "Div": ((2, 5), ["x", "pos"], {}),
}


@pytest.mark.parametrize("producer", sorted(PRODUCER_CASES))
def test_relu_fuses_into_each_producer(mace_registry, producer):
    shape, inputs, attrs = PRODUCER_CASES[producer]
    consts = {"k": w(3, 2, 3, 3), "m": w(4, 5), "bias": w(4), "mt": w(5, 4), "row": w(5),
              "pos": w(5, low=0.5, high=2.0)}
    nodes = [n(producer, inputs, "p", **attrs), n("Relu", ["p"], "y")]
    graph = build(mace_registry, nodes, {"x": shape}, ["y"], consts)
    after = check(graph, mace_registry, "activation_fusion")
    assert ops(after) == [producer] and after.nodes[0].attrs["activation"] == "Relu"


@pytest.mark.parametrize("why", ["graph_output", "two_readers", "runtime_bound", "fused"])
def test_activation_not_fused(mace_registry, why):
    conv = n("Conv", ["x", "w"], "c")
    act = n("Clip", ["c", "x_lo"] if why == "runtime_bound" else ["c"], "y", max=1.0)
    nodes, outputs = [conv, act], ["y"]
    if why == "graph_output":
        outputs = ["y", "c"]
    elif why == "two_readers":
        nodes.append(n("Sigmoid", ["c"], "s"))
        outputs = ["y", "s"]
    elif why == "fused":
        conv.attrs.update(activation="Relu", activation_params=[])
    inputs = {"x": (1, 2, 3, 3), "x_lo": ()}
    graph = build(mace_registry, nodes, inputs, outputs, {"w": w(2, 2, 1, 1)})
    check(graph, mace_registry, "activation_fusion", expect_change=False)


# -- bias fusion ---------------------------------------------------------------------------
@pytest.mark.parametrize("bias_shape", [(4, 1, 1), (1, 4, 1, 1), (1,), ()])
@pytest.mark.parametrize("conv_bias", [False, True])
@pytest.mark.parametrize("const_first", [False, True])
def test_add_of_channel_constant_becomes_conv_bias(mace_registry, bias_shape, conv_bias,
                                                    const_first):
    conv = n("Conv", ["x", "w", "b"] if conv_bias else ["x", "w"], "c")
    add = n("Add", ["k", "c"] if const_first else ["c", "k"], "y")
    consts = {"w": w(4, 3, 3, 3), "b": w(4), "k": w(*bias_shape)}
    graph = build(mace_registry, [conv, add], {"x": (1, 3, 6, 6)}, ["y"], consts)
    after = check(graph, mace_registry, "bias_fusion")
    assert ops(after) == ["Conv"] and after.nodes[0].outputs == ["y"]
    assert after.constants[after.nodes[0].inputs[2]].shape == (4,)


def test_per_pixel_add_is_not_a_bias(mace_registry):
    nodes = [n("Conv", ["x", "w"], "c"), n("Add", ["c", "k"], "y")]
    graph = build(mace_registry, nodes, {"x": (1, 3, 6, 6)}, ["y"],
                  {"w": w(4, 3, 3, 3), "k": w(1, 4, 4, 4)})
    check(graph, mace_registry, "bias_fusion", expect_change=False)


@pytest.mark.parametrize("a_shape, changes", [((3, 5), True), ((2, 3, 5), False)])
def test_matmul_add_becomes_gemm(mace_registry, a_shape, changes):
    nodes = [n("MatMul", ["a", "m"], "p"), n("Add", ["p", "bias"], "y")]
    graph = build(mace_registry, nodes, {"a": a_shape}, ["y"], {"m": w(5, 4), "bias": w(4)})
    after = check(graph, mace_registry, "bias_fusion", expect_change=changes)
    assert ops(after) == (["Gemm"] if changes else ["MatMul", "Add"])


# -- cleanup ---------------------------------------------------------------------------------
def test_identity_and_dropout_removed(mace_registry):
    nodes = [n("Relu", ["x"], "a"), n("Identity", ["a"], "b"), n("Dropout", ["b"], "c"),
             n("Sigmoid", ["c"], "d"), n("Identity", ["d"], "y")]
    graph = build(mace_registry, nodes, {"x": (2, 3)}, ["y"])
    after = check(graph, mace_registry, "cleanup")
    assert ops(after) == ["Relu", "Sigmoid"]
    assert after.nodes[1].outputs == ["y"] and after.outputs == ["y"]
    # from a graph input to a graph output: no producer to take the output name
    passthrough = build(mace_registry, [n("Identity", ["x"], "y")], {"x": (2,)}, ["y"])
    check(passthrough, mace_registry, "cleanup", expect_change=False)


def test_noop_reshapes_and_casts_removed(mace_registry):
    nodes = [n("Reshape", ["x", "same"], "a"), n("Flatten", ["a"], "b", axis=1),
             n("Cast", ["b"], "c", to=1), n("Cast", ["c"], "y", to=6)]
    graph = build(mace_registry, nodes, {"x": (2, 12)}, ["y"], {"same": np.array([2, 12])})
    after = check(graph, mace_registry, "cleanup")
    assert ops(after) == ["Cast"] and after.nodes[0].inputs == ["x"]


def test_reshape_chain_collapses(mace_registry):
    nodes = [n("Reshape", ["x", "s1"], "a"), n("Unsqueeze", ["a", "ax"], "b"),
             n("Reshape", ["b", "s2"], "c"), n("Relu", ["c"], "y")]
    consts = {"s1": np.array([6, 4]), "ax": np.array([0]), "s2": np.array([0, -1])}
    graph = build(mace_registry, nodes, {"x": (2, 3, 4)}, ["y"], consts)
    after = check(graph, mace_registry, "cleanup")
    assert ops(after) == ["Reshape", "Relu"] and after.nodes[0].inputs[0] == "x"
    assert after.constants[after.nodes[0].inputs[1]].tolist() == [1, 24]


@pytest.mark.parametrize("p1, p2, left", [([0, 2, 3, 1], [0, 3, 1, 2], []),
                                          ([1, 0, 2, 3], [0, 2, 1, 3], ["Transpose"])])
def test_transpose_pairs(mace_registry, p1, p2, left):
    nodes = [n("Transpose", ["x"], "a", perm=p1), n("Transpose", ["a"], "b", perm=p2),
             n("Relu", ["b"], "y")]
    graph = build(mace_registry, nodes, {"x": (1, 2, 3, 4)}, ["y"])
    after = check(graph, mace_registry, "cleanup")
    assert ops(after) == [*left, "Relu"]


# -- layout -------------------------------------------------------------------------------------
def test_layout_pass_marks_4d_activations(mace_registry):
    graph = build(mace_registry, [n("Relu", ["x"], "a"), n("Flatten", ["a"], "y")],
                  {"x": (1, 2, 3, 3)}, ["y"])
    (spec,) = [p for p in mace_registry.passes if p.name == "layout"]
    assert spec.fn(graph, PassContext(registry=mace_registry))
    assert graph.metadata["layout"] == "nchw"
    assert graph.desc("a").layout == Layout.NCHW and graph.desc("y").layout == Layout.ANY
    assert not spec.fn(graph, PassContext(registry=mace_registry))


def test_layout_transforms_between_nchw_and_nhwc_nodes(mace_registry):
    nodes = [n("Relu", ["x"], "a"), n("Sigmoid", ["a"], "b"), n("Add", ["a", "b"], "c"),
             n("Mul", ["c", "b"], "d"), n("Tanh", ["d"], "e"), n("Relu", ["v"], "f")]
    graph = build(mace_registry, nodes, {"x": (1, 3, 4, 5), "v": (2, 3)}, ["c", "e", "f"])
    expected = run(graph, mace_registry)
    nhwc, nchw = Layout.NHWC, Layout.NCHW
    placement = {"relu_a": nhwc, "sigmoid_b": nchw, "add_c": nhwc, "mul_d": nchw,
                 "tanh_e": nhwc, "relu_f": nhwc}
    inserted = insert_layout_transforms(graph, placement)
    assert len(inserted) == 6 and ops(graph).count("Transpose") == 6
    graph.validate()
    assert graph.outputs == ["c", "e", "f"] and graph.desc("c").layout == nchw
    assert graph.desc("a_nhwc").shape == (1, 4, 5, 3) and graph.desc("a_nhwc").layout == nhwc
    got = run(graph, mace_registry)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-6, err_msg=key)


def test_reference_placement_needs_no_transforms(mace_registry):
    graph = build(mace_registry, [n("Relu", ["x"], "y")], {"x": (1, 3, 4, 4)}, ["y"])
    placement = Model(graph, registry=mace_registry).session(["reference"]).placement
    layouts = node_layouts(placement, mace_registry)
    assert layouts == {"relu_y": Layout.NCHW}
    assert insert_layout_transforms(graph, layouts) == [] and ops(graph) == ["Relu"]


# -- the whole pipeline ---------------------------------------------------------------------------
def test_optimize_fuses_a_small_cnn(mace_registry):
    nodes = [n("Conv", ["x", "w1"], "c1", pads=[1, 1, 1, 1]), bn("c1", "b1"),
             n("Relu", ["b1"], "r1"), n("Identity", ["r1"], "i1"),
             n("Conv", ["i1", "w2"], "c2", group=4), n("Clip", ["c2", "zero", "six"], "r2"),
             n("GlobalAveragePool", ["r2"], "g"), n("Flatten", ["g"], "f"),
             n("MatMul", ["f", "fc"], "m"), n("Add", ["m", "fc_b"], "l"),
             n("Sigmoid", ["l"], "y")]
    consts = {"w1": w(4, 3, 3, 3), "w2": w(4, 1, 3, 3), "fc": w(4, 2), "fc_b": w(2),
              "zero": np.array(0, np.float32), "six": np.array(6, np.float32),
              **bn_constants(4)}
    graph = build(mace_registry, nodes, {"x": (1, 3, 6, 6)}, ["y"], consts)
    expected = run(graph, mace_registry)
    optimize(graph, mace_registry)
    assert ops(graph) == ["Conv", "Conv", "GlobalAveragePool", "Flatten", "Gemm"]
    assert [node.attrs.get("activation") for node in graph.nodes] == [
        "Relu", "Clip", None, None, "Sigmoid"]
    np.testing.assert_allclose(run(graph, mace_registry)["y"], expected["y"], rtol=1e-5,
                               atol=1e-5)


def test_optimize_changes_nothing_without_a_pattern(mace_registry):
    nodes = [n("Exp", ["x"], "a"), n("Relu", ["a"], "b"), n("Mul", ["b", "x"], "c"),
             n("Softmax", ["c"], "y", axis=1)]
    graph = build(mace_registry, nodes, {"x": (1, 3, 4, 4)}, ["y"])
    before = copy.deepcopy(graph)
    reports = optimize(graph, mace_registry)
    assert [r.name for r in reports if r.changed] == ["layout"]  # annotation only
    assert [(m.name, m.op_type, m.inputs, m.outputs, m.attrs) for m in graph.nodes] == [
        (m.name, m.op_type, m.inputs, m.outputs, m.attrs) for m in before.nodes]
    assert graph.constants == {} and set(graph.tensors) == set(before.tensors)
    np.testing.assert_array_equal(run(graph, mace_registry)["y"], run(before, mace_registry)["y"])
