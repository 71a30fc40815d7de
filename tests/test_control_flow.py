"""If nodes and frozen inputs: ONNX models with control flow, converted and compared with
onnxruntime; If inlining at conversion time; run-time conditions; ``--input-value``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

import mace_core
from mace_core.catalog import CATALOG
from mace_core.cli.common import parse_input_values
from mace_core.cli.main import main
from mace_core.errors import ConversionError, ModelFormatError, UnsupportedOpError, ValidationError
from mace_core.model_format import save_model
from mace_core.pipeline import import_model
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.shape_inference import infer_shapes
from mace_core.specs import ConvertOptions
from mace_core.testing import assert_close

onnx = pytest.importorskip("onnx", reason="control-flow models are built with onnx")
ort = pytest.importorskip("onnxruntime", reason="results are compared with onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

FLOAT, INT64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


# -- building models -----------------------------------------------------------------
def const(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(
        np.asarray(value), name))


def out(name: str, elem=FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, None)


def branch(name: str, nodes, outputs, initializers=()) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [out(o) for o in outputs],
                             initializer=list(initializers))


def if_node(cond: str, outputs: list[str], then: onnx.GraphProto, orelse: onnx.GraphProto,
            name: str = "") -> onnx.NodeProto:
    return helper.make_node("If", [cond], outputs, name=name or None, then_branch=then,
                            else_branch=orelse)


def save(path: Path, nodes, inputs, outputs, initializers=()) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, [out(o) for o in outputs],
                              initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def dim_equals(tensor: str, axis: int, size: int, prefix: str) -> list[onnx.NodeProto]:
    """Nodes computing ``{prefix}_cond = shape(tensor)[axis] == size``."""
    return [
        helper.make_node("Shape", [tensor], [f"{prefix}_shape"]),
        const(f"{prefix}_axis", np.array(axis, np.int64)),
        helper.make_node("Gather", [f"{prefix}_shape", f"{prefix}_axis"], [f"{prefix}_dim"]),
        const(f"{prefix}_size", np.array(size, np.int64)),
        helper.make_node("Equal", [f"{prefix}_dim", f"{prefix}_size"], [f"{prefix}_cond"]),
    ]


def check_against_onnxruntime(src: Path, options: ConvertOptions,
                              feeds: dict[str, np.ndarray]):
    """Convert ``src``, check no If is left, and compare every output with onnxruntime."""
    graph = import_model(src, options)
    assert "If" not in graph.op_types()
    graph.validate()
    session = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds),
                        strict=True))
    ours = Model(graph).session(["reference"]).run(
        {k: v for k, v in feeds.items() if k in graph.inputs})
    assert set(ours) == set(expected)
    for name, ref in expected.items():
        assert ours[name].shape == ref.shape, name
        assert_close(ours[name], ref, name=name)
    return graph


# -- If with a condition that folds ----------------------------------------------------
@pytest.fixture
def shape_switch(tmp_path) -> Path:
    """y, k = If(x.shape[1] == 4): then (x * scale + bias, [1, 2, 3]) else (x, [7, 8, 9]).

    ``scale`` is an initializer of the then branch, ``bias`` an initializer of the main graph
    read only inside the branch; both branches output a constant.
    """
    then = branch("then", [
        helper.make_node("Mul", ["x", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["then_y"]),
        const("then_k", np.array([1, 2, 3], np.float32)),
    ], ["then_y", "then_k"], [numpy_helper.from_array(np.array([2.0], np.float32), "scale")])
    orelse = branch("else", [const("else_k", np.array([7, 8, 9], np.float32)),
                             helper.make_node("Identity", ["x"], ["else_y"])],
                    ["else_y", "else_k"])
    nodes = dim_equals("x", 1, 4, "c") + [
        if_node("c_cond", ["y", "k"], then, orelse),
        helper.make_node("Mul", ["y", "y"], ["z"]),
    ]
    bias = numpy_helper.from_array(np.array([0.5], np.float32), "bias")
    return save(tmp_path / "shape_switch.onnx", nodes,
                [helper.make_tensor_value_info("x", FLOAT, [1, "n"])], ["y", "k", "z"], [bias])


@pytest.mark.parametrize("n", [4, 3], ids=["then", "else"])
def test_if_on_a_static_shape_is_inlined(shape_switch, n):
    x = np.random.default_rng(0).standard_normal((1, n)).astype(np.float32)
    graph = check_against_onnxruntime(
        shape_switch, ConvertOptions(input_shapes={"x": (1, n)}), {"x": x})
    assert ("Add" in graph.op_types()) == (n == 4)


@pytest.fixture
def nested(tmp_path) -> Path:
    """If(x.shape[0] == 2) then [h = Relu(x); If(h.shape[1] == 3) then h + x * c else h - x]
    else -x. The inner branches read a tensor (h) and a constant (c) of the outer branch and
    the graph input x."""
    inner_then = branch("inner_then", [
        helper.make_node("Mul", ["x", "c"], ["xc"]),
        helper.make_node("Add", ["h", "xc"], ["inner_then_y"]),
    ], ["inner_then_y"])
    inner_else = branch("inner_else", [helper.make_node("Sub", ["h", "x"], ["inner_else_y"])],
                        ["inner_else_y"])
    outer_then = branch("outer_then", [
        helper.make_node("Relu", ["x"], ["h"]),
        const("c", np.array(3.0, np.float32)),
        *dim_equals("h", 1, 3, "inner"),
        if_node("inner_cond", ["outer_then_y"], inner_then, inner_else, "inner_if"),
    ], ["outer_then_y"])
    outer_else = branch("outer_else", [helper.make_node("Neg", ["x"], ["outer_else_y"])],
                        ["outer_else_y"])
    nodes = dim_equals("x", 0, 2, "outer") + [
        if_node("outer_cond", ["y"], outer_then, outer_else, "outer_if")]
    return save(tmp_path / "nested.onnx", nodes,
                [helper.make_tensor_value_info("x", FLOAT, ["b", "n"])], ["y"])


@pytest.mark.parametrize("shape", [(2, 3), (2, 5), (1, 3)],
                         ids=["then-then", "then-else", "else"])
def test_nested_if_is_inlined_level_by_level(nested, shape):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    graph = check_against_onnxruntime(nested, ConvertOptions(input_shapes={"x": shape}),
                                      {"x": x})
    expected = {(2, 3): {"Relu", "Mul", "Add"}, (2, 5): {"Relu", "Sub"}, (1, 3): {"Neg"}}
    assert expected[shape] <= set(graph.op_types())


def test_sibling_branches_with_the_same_internal_names_are_renamed(tmp_path):
    """Two If nodes whose branches both define ``t`` and ``k``: inlined side by side."""
    def arm(name: str, factor: float) -> onnx.GraphProto:
        return branch(name, [const("k", np.array(factor, np.float32)),
                             helper.make_node("Mul", ["x", "k"], ["t"])], ["t"])

    nodes = dim_equals("x", 1, 4, "c") + [
        if_node("c_cond", ["a"], arm("a_then", 2.0), arm("a_else", 3.0), "first"),
        if_node("c_cond", ["b"], arm("b_then", 5.0), arm("b_else", 7.0), "second"),
        helper.make_node("Add", ["a", "b"], ["y"]),
    ]
    src = save(tmp_path / "siblings.onnx", nodes,
               [helper.make_tensor_value_info("x", FLOAT, [1, 4])], ["y"])
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    graph = check_against_onnxruntime(src, ConvertOptions(), {"x": x})
    names = [n.name for n in graph.nodes]
    assert len(names) == len(set(names))


def test_branch_outputs_that_no_branch_node_computes(tmp_path):
    """Outputs that are an outer tensor, a branch initializer or repeated get an Identity.

    (onnxruntime refuses a branch returning an outer tensor directly; ONNX allows it.)
    """
    then = branch("then", [], ["x", "w", "x"],
                  [numpy_helper.from_array(np.array([4.0, 5.0], np.float32), "w")])
    orelse = branch("else", [helper.make_node("Neg", ["x"], ["nx"])], ["nx", "nx", "nx"])
    nodes = dim_equals("x", 0, 2, "c") + [if_node("c_cond", ["a", "b", "c"], then, orelse)]
    src = save(tmp_path / "direct.onnx", nodes,
               [helper.make_tensor_value_info("x", FLOAT, ["n"])], ["a", "b", "c"])
    for n, expected in ((2, lambda x: (x, [4.0, 5.0], x)), (3, lambda x: (-x, -x, -x))):
        graph = import_model(src, ConvertOptions(input_shapes={"x": (n,)}))
        assert "If" not in graph.op_types()
        x = np.arange(n, dtype=np.float32) + 1
        ours = Model(graph).session(["reference"]).run({"x": x})
        for name, value in zip("abc", expected(x), strict=True):
            np.testing.assert_array_equal(ours[name], value)


# -- conditions known only at run time ---------------------------------------------------
@pytest.fixture
def mode_switch(tmp_path) -> Path:
    """y = If(mode == 1) then x * 2 else x * 3, with ``mode`` an int64 scalar input."""
    then = branch("then", [const("two", np.array(2.0, np.float32)),
                           helper.make_node("Mul", ["x", "two"], ["then_y"])], ["then_y"])
    orelse = branch("else", [const("three", np.array(3.0, np.float32)),
                             helper.make_node("Mul", ["x", "three"], ["else_y"])], ["else_y"])
    nodes = [const("one", np.array(1, np.int64)),
             helper.make_node("Equal", ["mode", "one"], ["cond"]),
             if_node("cond", ["y"], then, orelse, "switch")]
    return save(tmp_path / "mode_switch.onnx", nodes,
                [helper.make_tensor_value_info("x", FLOAT, [2, 3]),
                 helper.make_tensor_value_info("mode", INT64, [])], ["y"])


def test_run_time_condition_names_the_inputs_to_freeze(mode_switch):
    with pytest.raises(ValidationError) as info:
        import_model(mode_switch, ConvertOptions())
    assert str(info.value) == (
        "If node 'switch': its condition depends on run-time input(s) mode; freeze them with "
        "--input-value NAME=VALUE or give static shapes")


def test_condition_on_values_of_two_inputs(tmp_path):
    then = branch("then", [helper.make_node("Identity", ["a"], ["then_y"])], ["then_y"])
    orelse = branch("else", [helper.make_node("Identity", ["b"], ["else_y"])], ["else_y"])
    nodes = [helper.make_node("ReduceSum", ["a"], ["sa"], keepdims=0),
             helper.make_node("Greater", ["sa", "b"], ["cond"]),
             if_node("cond", ["y"], then, orelse, "pick")]
    src = save(tmp_path / "values.onnx", nodes,
               [helper.make_tensor_value_info("a", FLOAT, [3]),
                helper.make_tensor_value_info("b", FLOAT, [])], ["y"])
    with pytest.raises(ValidationError, match=r"run-time input\(s\) a, b; freeze them"):
        import_model(src, ConvertOptions())


@pytest.mark.parametrize("mode", [1, 0])
def test_frozen_input_folds_the_condition(mode_switch, mode):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    options = ConvertOptions(input_values={"mode": np.array(mode)})
    graph = check_against_onnxruntime(mode_switch, options,
                                      {"x": x, "mode": np.array(mode, np.int64)})
    assert graph.inputs == ["x"]
    assert graph.metadata["frozen_inputs"] == (
        f'{{"mode": {{"dtype": "int64", "shape": [], "values": [{mode}]}}}}')


def test_frozen_value_errors(mode_switch):
    with pytest.raises(ConversionError, match="no input of; its inputs are: x, mode"):
        import_model(mode_switch, ConvertOptions(input_values={"mod": np.array(1)}))
    with pytest.raises(ConversionError, match="cannot be held exactly by the input's dtype"):
        import_model(mode_switch, ConvertOptions(input_values={"mode": np.array(1.5)}))
    with pytest.raises(ConversionError, match=r"got 2 value\(s\), but input 'mode' has shape"):
        import_model(mode_switch, ConvertOptions(input_values={"mode": np.array([1, 2])}))


def test_parse_input_values():
    values = parse_input_values(["sr=16000", "w=0.5,1,2", "flag=true"])
    assert values["sr"].shape == () and values["sr"] == 16000
    np.testing.assert_array_equal(values["w"], [0.5, 1.0, 2.0])
    assert values["flag"].dtype == np.bool_
    for bad in ("sr", "=3", "sr=abc", "w=1,,2"):
        with pytest.raises(argparse.ArgumentTypeError, match="--input-value"):
            parse_input_values([bad])


def test_cli_input_value_convert_and_validate(mode_switch, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert main(["convert", str(mode_switch), "-o", str(out_dir), "-q"]) == 2
    assert "--input-value NAME=VALUE" in capsys.readouterr().err
    assert main(["convert", str(mode_switch), "-o", str(out_dir), "-q",
                 "--input-value", "mode=0"]) == 0
    printed = capsys.readouterr().out
    assert "note: input mode is frozen to 0; the converted model no longer takes it" in printed
    pb = out_dir / "mode_switch.pb"
    model = mace_core.load(pb)
    assert [d.name for d in model.inputs] == ["x"]
    # validate feeds onnxruntime the frozen value recorded in the model
    assert main(["validate", str(mode_switch), str(pb), "--device", "reference"]) == 0
    assert "all 1 outputs match" in capsys.readouterr().out


# -- an If left in the graph: schema, reference kernel, model format ---------------------
def test_unresolved_if_runs_on_the_reference_kernel_but_is_not_saved(shape_switch, tmp_path):
    registry = default_registry()
    spec = registry.converter_for(shape_switch)
    graph = spec.convert(shape_switch, ConvertOptions(input_shapes={"x": (1, 4)}), registry)
    # the frontend lists what the branches read after the condition
    (if_node_,) = [n for n in graph.nodes if n.op_type == "If"]
    assert if_node_.inputs == ["c_cond", "x", "bias"]
    assert if_node_.attrs["then_branch"].inputs == ["x", "bias"]
    with pytest.raises(ValidationError, match=r"input 0 \(condition\) must be known"):
        infer_shapes(graph, registry)  # the condition is not folded by plain inference
    graph.nodes = [n for n in graph.nodes if n.op_type not in ("Shape", "Gather", "Equal")]
    graph.add_constant("c_cond", np.array(True))
    infer_shapes(graph, registry)
    assert graph.desc("y").shape == (1, 4) and graph.desc("k").shape == (3,)
    x = np.random.default_rng(2).standard_normal((1, 4)).astype(np.float32)
    ours = Model(graph).session(["reference"]).run({"x": x})
    np.testing.assert_allclose(ours["y"], x * 2 + 0.5, rtol=1e-6)
    np.testing.assert_array_equal(ours["k"], [1, 2, 3])
    with pytest.raises(ModelFormatError, match="holds a subgraph .* --input-value"):
        save_model(graph, tmp_path / "m", "m")


def test_loop_stays_unsupported_even_inside_a_branch(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "v_in"], ["v_out"])],
        "body", [out("i", INT64), out("cond_in", BOOL), out("v_in")],
        [out("cond_out", BOOL), out("v_out")])
    loop = helper.make_node("Loop", ["trips", "", "x"], ["then_y"], name="the_loop", body=body)
    then = branch("then", [const("trips", np.array(3, np.int64)), loop], ["then_y"])
    orelse = branch("else", [helper.make_node("Identity", ["x"], ["else_y"])], ["else_y"])
    nodes = dim_equals("x", 0, 2, "c") + [if_node("c_cond", ["y"], then, orelse, "outer")]
    src = save(tmp_path / "loop.onnx", nodes, [helper.make_tensor_value_info("x", FLOAT, [2])],
               ["y"])
    with pytest.raises(UnsupportedOpError, match=r"Loop: outer/then_branch/the_loop"):
        import_model(src, ConvertOptions())


# -- the real model ----------------------------------------------------------------------
@pytest.mark.slow
def test_silero_vad_with_sample_rate_frozen(tmp_path):
    """The default Silero VAD (25 If nodes, nested 4 deep) with sr frozen to 16000."""
    from mace_core.cli.validate import validate_files
    from mace_core.cli.zoo import convert_entry
    from mace_core.fetch import fetch

    entry = CATALOG["silero-vad"]
    assert entry.runnable and dict(entry.frozen_inputs) == {"sr": 16000}
    src = fetch(entry, log=lambda m: None)
    pb = convert_entry(entry, tmp_path)
    model = mace_core.load(pb)
    assert "If" not in model.graph.op_types()
    assert [d.name for d in model.inputs] == ["input", "state"]
    results, _ = validate_files(src, pb, devices=["reference"], inputs=entry.random_inputs(0))
    assert [r.name for r in results] == ["output", "stateN"]
    for r in results:
        assert r.ok and r.cosine >= 0.99999 and r.rel <= 1e-4, r
