"""The ONNX frontend: input shapes, external data, errors, constants, attributes, dtypes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mace_core.dtypes import DType
from mace_core.errors import ConversionError, UnsupportedOpError
from mace_core.pipeline import import_model
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.specs import ConvertOptions

onnx = pytest.importorskip("onnx", reason="the ONNX frontend tests need the onnx package")
from mace_converters.onnx_frontend.attributes import node_attributes  # noqa: E402
from mace_converters.onnx_plugin import REQUIRES, sniff  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def make_model(nodes, inputs, outputs, initializers=(), opset=13) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test_graph", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_operatorsetid("", opset)])


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def fvalue(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def convert(path: Path, **input_shapes) -> object:
    return import_model(path, ConvertOptions(input_shapes=input_shapes))


def run(graph, **feeds) -> dict[str, np.ndarray]:
    return Model(graph).session(["reference"]).run(feeds)


@pytest.fixture
def dynamic_model(tmp_path) -> Path:
    """y = relu(x + b) with x of shape [N, 3, H, W]."""
    bias = numpy_helper.from_array(np.array([1.0, -1.0, 0.5], np.float32).reshape(1, 3, 1, 1),
                                   "b")
    nodes = [helper.make_node("Add", ["x", "b"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["y"], name="relu")]
    model = make_model(nodes, [fvalue("x", ["N", 3, "H", "W"])], [fvalue("y", None)], [bias])
    return save(model, tmp_path / "dynamic.onnx")


# -- registration ---------------------------------------------------------------------------
def test_frontend_is_registered_through_the_entry_point():
    registry = default_registry()
    spec = registry.converters["onnx"]
    assert spec.suffixes == (".onnx",)
    assert spec.requires == REQUIRES == "pip install 'mace-converters[onnx]'"
    status = {s.name: s for s in registry.plugin_status}
    assert status["onnx"].state == "loaded"
    assert status["onnx"].distribution == "mace-converters"


def test_plugin_imports_without_onnx_and_convert_names_the_extra(tmp_path):
    # A child process where `import onnx` fails, as on a machine without the extra.
    script = f"""
import sys
sys.modules["onnx"] = None
sys.modules["onnxruntime"] = None
from pathlib import Path
from mace_converters import onnx_plugin
from mace_core.errors import ConversionError
from mace_core.specs import ConvertOptions
try:
    onnx_plugin.convert(Path({str(tmp_path / 'm.onnx')!r}), ConvertOptions(), None)
except ConversionError as exc:
    print("ERROR:", exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert "ERROR:" in done.stdout
    assert "pip install 'mace-converters[onnx]'" in done.stdout


def test_sniff_recognises_onnx_content_but_not_other_files(tmp_path, dynamic_model):
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(dynamic_model.read_bytes())
    other = tmp_path / "other.bin"
    other.write_bytes(b"TFL3" + bytes(60))
    assert sniff(dynamic_model) and sniff(renamed)
    assert not sniff(other)
    assert not sniff(tmp_path / "missing.bin")


# -- input shapes ---------------------------------------------------------------------------
def test_input_shape_fills_dynamic_dims(dynamic_model):
    graph = convert(dynamic_model, x=(2, 3, 4, 5))
    assert graph.desc("x").shape == (2, 3, 4, 5)
    assert graph.desc("y").shape == (2, 3, 4, 5)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    expected = np.maximum(x + np.array([1.0, -1.0, 0.5], np.float32).reshape(1, 3, 1, 1), 0)
    np.testing.assert_allclose(run(graph, x=x)["y"], expected, rtol=1e-6)


def test_missing_dynamic_dims_list_every_input_with_an_example_flag(tmp_path):
    nodes = [helper.make_node("Add", ["a", "b"], ["y"])]
    model = make_model(nodes, [fvalue("a", ["N", 3]), fvalue("b", None)], [fvalue("y", None)])
    path = save(model, tmp_path / "two_dynamic.onnx")
    with pytest.raises(ConversionError) as info:
        convert(path)
    message = str(info.value)
    assert str(path) in message
    assert "a: [N, 3]" in message and "--input-shape a=1,3" in message
    assert "b: unknown rank" in message
    assert "--input-shape NAME=DIMS" in message
    with pytest.raises(ConversionError, match="b: unknown rank") as info:
        convert(path, a=(2, 3))
    assert "a: [N" not in str(info.value)
    assert convert(path, a=(2, 3), b=(2, 3)).desc("y").shape == (2, 3)


def test_input_shape_of_wrong_rank_or_unknown_input_is_an_error(dynamic_model):
    with pytest.raises(ConversionError, match=r"rank 2.*rank 4"):
        convert(dynamic_model, x=(2, 3))
    with pytest.raises(ConversionError, match=r"no input of; its inputs are: x"):
        convert(dynamic_model, x=(1, 3, 2, 2), image=(1, 3, 2, 2))


def test_input_shape_through_the_cli(dynamic_model, tmp_path, capsys):
    from mace_core.cli.main import main

    assert main(["convert", str(dynamic_model), "-o", str(tmp_path / "out"), "-q"]) == 2
    assert "--input-shape x=1,3,1,1" in capsys.readouterr().err
    status = main(["convert", str(dynamic_model), "-o", str(tmp_path / "out"), "-q",
                   "--input-shape", "x=1,3,8,8"])
    assert status == 0
    assert "input  x: float32[1, 3, 8, 8]" in capsys.readouterr().out


# -- external data ----------------------------------------------------------------------------
def _external_model(tmp_path: Path) -> tuple[Path, np.ndarray]:
    weight = np.random.default_rng(1).standard_normal((64, 64)).astype(np.float32)
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]
    model = make_model(nodes, [fvalue("x", [64, 64])], [fvalue("y", None)],
                       [numpy_helper.from_array(weight, "w")])
    path = tmp_path / "external.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external.weights", size_threshold=0)
    return path, weight


def test_external_data_is_loaded_from_the_model_directory(tmp_path):
    path, weight = _external_model(tmp_path)
    assert (tmp_path / "external.weights").is_file()
    assert path.stat().st_size < weight.nbytes  # the weights really live outside
    graph = convert(path)
    np.testing.assert_array_equal(graph.constants["w"], weight)
    x = np.ones((64, 64), np.float32)
    np.testing.assert_allclose(run(graph, x=x)["y"], x + weight)


def test_missing_external_data_file_is_a_clear_error(tmp_path):
    path, _ = _external_model(tmp_path)
    (tmp_path / "external.weights").unlink()
    with pytest.raises(ConversionError) as info:
        convert(path)
    message = str(info.value)
    assert str(path) in message
    assert "external.weights" in message and "holds w" in message
    assert "missing" in message


# -- unsupported ops --------------------------------------------------------------------------
def test_unsupported_ops_are_all_listed_with_node_names(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("FancyOp", ["r"], ["f1"], name="fancy_1"),
        helper.make_node("FancyOp", ["f1"], ["f2"], name="fancy_2"),
        helper.make_node("Blur", ["f2"], ["y"], name="blur", domain="com.example"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [fvalue("x", ["N", 4])], [fvalue("y", None)]),
        opset_imports=[helper.make_operatorsetid("", 13),
                       helper.make_operatorsetid("com.example", 1)],
    )
    path = save(model, tmp_path / "custom.onnx")
    # Reported before the missing input shape: the user sees every blocker of this kind first.
    with pytest.raises(UnsupportedOpError) as info:
        convert(path)
    message = str(info.value)
    assert "2 op type(s) are not supported" in message
    assert "FancyOp: fancy_1, fancy_2" in message
    assert "com.example::Blur: blur" in message
    assert "Relu" not in message
    assert "custom-op plugin" in message


def test_loop_is_reported_as_unsupported(tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["x"], ["o"])], "body",
        [fvalue("i", [], TensorProto.INT64), fvalue("cond_in", [], TensorProto.BOOL)],
        [fvalue("cond_out", [], TensorProto.BOOL), fvalue("o", [2])])
    nodes = [helper.make_node("Loop", ["n", "c"], ["y"], name="loop_node", body=body)]
    model = make_model(nodes, [fvalue("n", [], TensorProto.INT64),
                               fvalue("c", [], TensorProto.BOOL), fvalue("x", [2])],
                       [fvalue("y", [3, 2])])
    with pytest.raises(UnsupportedOpError, match="Loop: loop_node"):
        convert(save(model, tmp_path / "loop.onnx"))


# -- broken files -----------------------------------------------------------------------------
def _serialized(dynamic_model: Path) -> bytes:
    return dynamic_model.read_bytes()


@pytest.mark.parametrize("cut", [0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_truncated_file_is_a_conversion_error_naming_the_file(tmp_path, dynamic_model, cut):
    data = _serialized(dynamic_model)
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ConversionError) as info:
        convert(path, x=(1, 3, 2, 2))
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all\n", bytes(range(256)) * 8,
                                     b"\x08\x07" + b"\xff" * 100])
def test_garbage_file_is_a_conversion_error_naming_the_file(tmp_path, content):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(content)
    with pytest.raises(ConversionError) as info:
        convert(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_conversion_error(tmp_path):
    with pytest.raises(ConversionError, match="no such file"):
        import_model(tmp_path / "absent.onnx", ConvertOptions(), format="onnx")


# -- opsets -----------------------------------------------------------------------------------
def test_opset_below_7_is_refused(tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [fvalue("x", [2])],
                       [fvalue("y", [2])], opset=6)
    path = save(model, tmp_path / "old.onnx")
    with pytest.raises(ConversionError, match=r"opset 6.*opset 7 or newer") as info:
        convert(path)
    assert "convert_version" in str(info.value)


@pytest.mark.parametrize(("opset", "attrs", "expected"), [
    (11, {}, {"axis": 1, "legacy_2d": 1}),
    (11, {"axis": 2}, {"axis": 2, "legacy_2d": 1}),
    (13, {}, {"axis": -1}),
    (13, {"axis": 1}, {"axis": 1}),
])
def test_softmax_attributes_follow_the_opset(tmp_path, opset, attrs, expected):
    model = make_model([helper.make_node("Softmax", ["x"], ["y"], **attrs)],
                       [fvalue("x", [2, 3, 4])], [fvalue("y", None)], opset=opset)
    graph = convert(save(model, tmp_path / "softmax.onnx"))
    assert graph.nodes[0].attrs == expected
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    axis = expected["axis"]
    if opset < 13:  # normalise over all dims from axis on, flattened
        flat = x.reshape(int(np.prod(x.shape[:axis])), -1)
        want = (np.exp(flat) / np.exp(flat).sum(1, keepdims=True)).reshape(x.shape)
    else:
        want = np.exp(x) / np.exp(x).sum(axis, keepdims=True)
    np.testing.assert_allclose(run(graph, x=x)["y"], want, rtol=1e-5)


def test_split_without_sizes_gets_num_outputs_before_opset_18(tmp_path):
    model = make_model([helper.make_node("Split", ["x"], ["a", "b", "c"], axis=0)],
                       [fvalue("x", [6, 2])], [fvalue(n, None) for n in "abc"])
    graph = convert(save(model, tmp_path / "split.onnx"))
    assert graph.nodes[0].attrs == {"axis": 0, "num_outputs": 3}
    assert [graph.desc(n).shape for n in "abc"] == [(2, 2)] * 3


# -- constants, names, attributes, dtypes -----------------------------------------------------
def test_constant_nodes_become_constants(tmp_path):
    tensor = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "t")
    nodes = [
        helper.make_node("Constant", [], ["c_tensor"], value=tensor),
        helper.make_node("Constant", [], ["c_float"], value_float=2.5),
        helper.make_node("Constant", [], ["c_floats"], value_floats=[1.0, 2.0, 3.0]),
        helper.make_node("Constant", [], ["c_int"], value_int=7),
        helper.make_node("Constant", [], ["c_ints"], value_ints=[4, 5, 6]),
        helper.make_node("Add", ["x", "c_tensor"], ["s1"]),
        helper.make_node("Mul", ["s1", "c_float"], ["s2"]),
        helper.make_node("Add", ["s2", "c_floats"], ["y"]),
        helper.make_node("Add", ["c_int", "c_ints"], ["z"]),
    ]
    model = make_model(nodes, [fvalue("x", [2, 3])], [fvalue("y", None), fvalue("z", None)])
    graph = convert(save(model, tmp_path / "constants.onnx"))
    assert "Constant" not in graph.op_types()
    assert [n.op_type for n in graph.nodes] == ["Add", "Mul", "Add", "Add"]
    assert graph.constants["c_float"].shape == () and graph.constants["c_int"].shape == ()
    assert graph.desc("c_int").dtype == DType.INT64
    np.testing.assert_array_equal(graph.constants["c_tensor"], numpy_helper.to_array(tensor))
    np.testing.assert_array_equal(graph.constants["c_ints"], [4, 5, 6])
    x = np.ones((2, 3), np.float32)
    out = run(graph, x=x)
    np.testing.assert_allclose(out["y"], (x + np.arange(6).reshape(2, 3)) * 2.5 + [1, 2, 3])
    np.testing.assert_array_equal(out["z"], [11, 12, 13])


def test_graph_inputs_that_are_initializers_are_constants(tmp_path):
    w = numpy_helper.from_array(np.full((2,), 3.0, np.float32), "w")
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])],
                       [fvalue("x", [2]), fvalue("w", [2])], [fvalue("y", None)], [w])
    graph = convert(save(model, tmp_path / "init_input.onnx"))
    assert graph.inputs == ["x"]
    assert "w" in graph.constants


def test_node_names_are_made_unique_and_ai_onnx_domain_is_default(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="dup"),
             helper.make_node("Relu", ["a"], ["b"], name="dup"),
             helper.make_node("Relu", ["b"], ["c"]),
             helper.make_node("Relu", ["c"], ["y"], domain="ai.onnx")]
    model = make_model(nodes, [fvalue("x", [2])], [fvalue("y", None)])
    graph = convert(save(model, tmp_path / "names.onnx"))
    assert [n.name for n in graph.nodes] == ["dup", "dup_1", "Relu_2", "Relu_3"]
    assert all(n.domain == "" for n in graph.nodes)


def test_attributes_keep_onnx_names_and_plain_values():
    tensor = numpy_helper.from_array(np.array([1, 2], np.int64))
    node = helper.make_node("AnyOp", ["x"], ["y"], f=0.5, i=3, s="nearest", fs=[1.0, 2.0],
                            ints=[1, 2], strs=["a", "b"], t=tensor)
    attrs = node_attributes(node, "node")
    assert attrs["f"] == 0.5 and attrs["i"] == 3 and attrs["s"] == "nearest"
    assert attrs["fs"] == [1.0, 2.0] and attrs["ints"] == [1, 2] and attrs["strs"] == ["a", "b"]
    assert isinstance(attrs["t"], np.ndarray) and attrs["t"].tolist() == [1, 2]
    assert type(attrs["i"]) is int and type(attrs["f"]) is float


def test_int64_input(tmp_path):
    offset = numpy_helper.from_array(np.array([10, -20, 2**40], np.int64), "offset")
    model = make_model([helper.make_node("Add", ["ids", "offset"], ["y"])],
                       [fvalue("ids", [2, 3], TensorProto.INT64)], [fvalue("y", None)], [offset])
    graph = convert(save(model, tmp_path / "int64.onnx"))
    assert graph.desc("ids").dtype == DType.INT64
    assert graph.desc("y").dtype == DType.INT64
    ids = np.array([[1, 2, 3], [4, 5, 6]], np.int64)
    out = run(graph, ids=ids)["y"]
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, ids + np.array([10, -20, 2**40]))


@pytest.mark.parametrize(("elem", "hint"), [
    (TensorProto.DOUBLE, "float32"),
    (TensorProto.STRING, "string"),
    (TensorProto.BFLOAT16, "BFLOAT16"),
    (TensorProto.FLOAT8E4M3FN, "FLOAT8E4M3FN"),
    (TensorProto.COMPLEX64, "COMPLEX64"),
])
def test_unsupported_input_dtypes_are_clear_errors(tmp_path, elem, hint):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [fvalue("x", [2], elem)],
                       [fvalue("y", None, elem)])
    path = save(model, tmp_path / "dtype.onnx")
    with pytest.raises(ConversionError) as info:
        convert(path)
    message = str(info.value)
    assert "input 'x'" in message and hint in message and str(path) in message


# -- running the source model -----------------------------------------------------------------
def test_run_source_runs_onnxruntime_on_every_output(dynamic_model):
    pytest.importorskip("onnxruntime")
    spec = default_registry().converters["onnx"]
    x = np.random.default_rng(3).standard_normal((1, 3, 2, 2)).astype(np.float32)
    ours = run(convert(dynamic_model, x=(1, 3, 2, 2)), x=x)
    theirs = spec.run_source(dynamic_model, {"x": x})
    assert list(theirs) == ["y"]
    np.testing.assert_allclose(ours["y"], theirs["y"], rtol=1e-6)


def test_small_cnn_matches_onnxruntime(tiny_cnn_onnx):
    pytest.importorskip("onnxruntime")
    graph = convert(tiny_cnn_onnx)
    assert graph.desc("probs").shape == (1, 10)
    x = np.random.default_rng(4).standard_normal((1, 3, 32, 32)).astype(np.float32)
    theirs = default_registry().converters["onnx"].run_source(tiny_cnn_onnx, {"input": x})
    np.testing.assert_allclose(run(graph, input=x)["probs"], theirs["probs"], rtol=1e-4,
                               atol=1e-6)
