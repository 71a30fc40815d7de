"""The deployable model format: round trips, fp16 weights, mmap, bad files, atomic writes."""

from __future__ import annotations

import hashlib
import mmap
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mace_core.dtypes import DType
from mace_core.errors import ModelFormatError
from mace_core.ir import Graph, Layout, Node, QuantParams, TensorDesc
from mace_core.model_format import FORMAT_VERSION, load_graph, save_model
from mace_core.model_format import mace_model_pb2 as pb
from mace_core.model_format.inspect import describe
from mace_core.model_format.reader import read_model_file

REPO = Path(__file__).resolve().parent.parent


def sample_graph(name: str = "sample", seed: int = 0) -> Graph:
    """A graph with a constant of every dtype, quantized tensors, every layout and attr kind."""
    rng = np.random.default_rng(seed)
    g = Graph(name, inputs=["x"], outputs=["y", "z"], metadata={"source": "test", "k": "v"})
    g.tensors["x"] = TensorDesc("x", DType.FLOAT32, (1, 3, 8, 8), Layout.NCHW)
    g.add_constant("w_f32", rng.standard_normal((16, 3, 3, 3)).astype(np.float32))
    g.add_constant("b_f32", rng.standard_normal(16).astype(np.float32))
    g.add_constant("w_f16", rng.standard_normal((4, 5)).astype(np.float16))
    g.add_constant("w_i8", rng.integers(-128, 127, (16, 3), dtype=np.int8))
    g.add_constant("w_u8", rng.integers(0, 255, (7,), dtype=np.uint8))
    g.add_constant("i32", rng.integers(-2**31, 2**31 - 1, (3, 2), dtype=np.int32))
    g.add_constant("shape", np.array([1, -1, 2**40], dtype=np.int64))
    g.add_constant("mask", np.array([[True, False, True]]))
    g.constants["scalar"] = np.array(2.5, dtype=np.float32)
    g.tensors["scalar"] = TensorDesc("scalar", DType.FLOAT32, ())
    g.add_constant("empty", np.zeros((0, 4), dtype=np.float32))
    g.tensors["w_i8"] = TensorDesc("w_i8", DType.INT8, (16, 3), Layout.IMAGE_FILTER,
                                   QuantParams(tuple(np.linspace(0.01, 0.2, 16)), (0,) * 16, 0))
    g.tensors["w_u8"] = TensorDesc("w_u8", DType.UINT8, (7,), quant=QuantParams((0.1,), (128,)))
    g.tensors["h"] = TensorDesc("h", DType.FLOAT16, (1, 16, 6, 6), Layout.NHWC)
    g.tensors["y"] = TensorDesc("y", DType.FLOAT32, (1, 16, 6, 6), Layout.IMAGE_NHWC4)
    g.tensors["z"] = TensorDesc("z", DType.INT64, (3,))
    g.nodes = [
        Node("conv", "Conv", ["x", "w_f32", "b_f32"], ["h"], {
            "kernel_shape": [3, 3], "strides": (1, 1), "alpha": 0.25, "auto_pad": "NOTSET",
            "scales": [1.0, 0.5], "names": ["a", "bé"], "group": 1, "empty": [],
            "flag": True, "value": np.arange(6, dtype=np.int64).reshape(2, 3),
            "fvalue": np.array(1.5, dtype=np.float32), "big": -(2**62),
        }),
        Node("act", "FusedRelu", ["h", ""], ["y"], {"mode": "relu"}, domain="com.mace"),
        Node("shape", "Identity", ["shape"], ["z"]),
    ]
    return g


def assert_graphs_equal(a: Graph, b: Graph) -> None:
    assert (a.name, a.inputs, a.outputs, a.metadata) == (b.name, b.inputs, b.outputs, b.metadata)
    assert a.tensors == b.tensors
    assert list(a.constants) == list(b.constants)
    for name, value in a.constants.items():
        loaded = b.constants[name]
        assert loaded.dtype == value.dtype and loaded.shape == value.shape, name
        np.testing.assert_array_equal(loaded, value)
    assert len(a.nodes) == len(b.nodes)
    for x, y in zip(a.nodes, b.nodes, strict=True):
        assert (x.name, x.op_type, x.domain, x.inputs, x.outputs) == (
            y.name, y.op_type, y.domain, y.inputs, y.outputs)
        assert list(x.attrs) == list(y.attrs)
        for key, value in x.attrs.items():
            got = y.attrs[key]
            if isinstance(value, np.ndarray):
                assert got.dtype == value.dtype and got.shape == value.shape
                np.testing.assert_array_equal(got, value)
            elif isinstance(value, (list, tuple)):
                assert got == list(value) and type(got) is list
            else:
                assert got == value and type(got) is type(value) or isinstance(value, bool)


@pytest.fixture
def saved(tmp_path):
    graph = sample_graph()
    return graph, save_model(graph, tmp_path)


def rewrite_model(pb_path: Path, edit) -> None:
    """Edit the Model record of a .pb and rewrite it with a valid checksum."""
    wrapper = pb.ModelFile.FromString(pb_path.read_bytes())
    model = pb.Model.FromString(wrapper.model)
    edit(model)
    wrapper.model = model.SerializeToString()
    wrapper.sha256 = hashlib.sha256(wrapper.model).digest()
    pb_path.write_bytes(wrapper.SerializeToString())


def load_error(pb_path: Path, verify: bool = True) -> str:
    with pytest.raises(ModelFormatError) as info:
        load_graph(pb_path, verify=verify)
    return str(info.value)


# -- round trips ---------------------------------------------------------------------
def test_round_trip_every_dtype_quant_layout_and_attr(saved):
    graph, paths = saved
    assert paths.pb.name == "sample.pb" and paths.data.name == "sample.data"
    loaded = load_graph(paths.pb)
    assert_graphs_equal(graph, loaded)
    assert loaded.nodes[0].attrs["flag"] == 1  # ONNX has no bool attributes: stored as int
    assert loaded.tensors["w_i8"].quant.axis == 0 and loaded.tensors["w_u8"].quant.axis is None
    assert {d.layout for d in loaded.tensors.values()} == set(Layout)
    assert {v.dtype for v in loaded.constants.values()} == {d.numpy for d in DType}


def test_save_is_deterministic(tmp_path):
    a = save_model(sample_graph(), tmp_path / "a")
    b = save_model(sample_graph(), tmp_path / "b")
    assert a.pb.read_bytes() == b.pb.read_bytes() and a.data.read_bytes() == b.data.read_bytes()


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(list(DType)), shape=st.lists(st.integers(0, 6), max_size=4),
       weights=st.sampled_from(["fp32", "fp16"]), seed=st.integers(0, 2**32 - 1))
def test_any_constant_round_trips(tmp_path_factory, dtype, shape, weights, seed):
    value = np.random.default_rng(seed).uniform(0, 100, shape).astype(dtype.numpy)
    g = Graph("c", outputs=["v"])
    g.add_constant("pad", np.ones(seed % 7, np.uint8))  # varies the offset of "v"
    g.constants["v"] = value  # not add_constant: it turns 0-d arrays into shape (1,)
    paths = save_model(g, tmp_path_factory.mktemp("c"), weights=weights)
    loaded = load_graph(paths.pb).constants["v"]
    assert loaded.dtype == value.dtype and loaded.shape == value.shape
    if weights == "fp16" and dtype is DType.FLOAT32 and value.size >= 16:
        np.testing.assert_allclose(loaded, value, rtol=1e-3)
    else:
        np.testing.assert_array_equal(loaded, value)
    assert all(ref.offset % 64 == 0 for ref in read_model_file(paths.pb)[0].constants)


def test_stem_defaults_to_a_safe_graph_name_and_can_be_given(tmp_path):
    graph = sample_graph("models/my net")
    assert save_model(graph, tmp_path).pb.name == "models_my_net.pb"
    paths = save_model(graph, tmp_path / "new", "v1.2")
    assert paths.data.name == "v1.2.data" and load_graph(paths.pb).name == "models/my net"
    with pytest.raises(ModelFormatError, match="stem"):
        save_model(graph, tmp_path, "a/b")


def test_constants_are_aligned_read_only_views_of_a_memory_map(saved):
    _, paths = saved
    model, _ = read_model_file(paths.pb)
    assert all(ref.offset % 64 == 0 and ref.offset >= 64 for ref in model.constants)
    assert paths.data.read_bytes()[:8] == b"MACEDATA"
    loaded = load_graph(paths.pb)
    for name, array in loaded.constants.items():
        assert not array.flags.writeable
        if array.size == 0:
            continue
        assert not array.flags.owndata, name
        base = array
        while isinstance(base, np.ndarray):
            base = base.base
        if isinstance(base, memoryview):
            base = base.obj
        assert isinstance(base, mmap.mmap), name
        assert array.ctypes.data % 64 == 0, name
    with pytest.raises(ValueError):
        loaded.constants["w_f32"][0] = 1.0


def test_fp16_weights_halve_the_file_and_load_back_as_float32(tmp_path):
    g = Graph("big", inputs=["x"], outputs=["y"])
    w = np.random.default_rng(0).standard_normal((64, 64, 3, 3)).astype(np.float32)
    g.add_constant("w", w)
    g.add_constant("small", np.linspace(-1, 1, 15, dtype=np.float32) / 3)
    g.add_constant("huge", np.full(32, 1e6, dtype=np.float32))  # beyond float16 range
    g.add_constant("idx", np.arange(100, dtype=np.int32))
    g.nodes = [Node("n", "Conv", ["x", "w", "small"], ["y"])]
    full = save_model(g, tmp_path / "fp32")
    half = save_model(g, tmp_path / "fp16", weights="fp16")
    ratio = half.data.stat().st_size / full.data.stat().st_size
    assert 0.45 < ratio < 0.55
    loaded = load_graph(half.pb)
    assert loaded.constants["w"].dtype == np.float32
    np.testing.assert_allclose(loaded.constants["w"], w, rtol=1e-3, atol=1e-4)
    assert not np.array_equal(loaded.constants["w"], w)  # really went through float16
    for name in ("small", "huge", "idx"):
        np.testing.assert_array_equal(loaded.constants[name], g.constants[name])
    model, _ = read_model_file(half.pb)
    stored = {ref.name: ref.stored_dtype for ref in model.constants}
    assert stored == {"w": pb.DT_FLOAT16, "small": pb.DT_FLOAT32, "huge": pb.DT_FLOAT32,
                      "idx": pb.DT_INT32}
    info = describe(half.pb)
    assert info["weights"] == "fp16" and info["stored_dtypes"]["float16"] == 1
    with pytest.raises(ModelFormatError, match="weights"):
        save_model(g, tmp_path, weights="int4")


def test_describe_summarises_the_model(saved):
    _, paths = saved
    info = describe(paths.pb)
    assert info["format_version"] == FORMAT_VERSION and info["producer"].startswith("mace-core ")
    assert info["nodes"] == 3 and info["op_types"] == {"Conv": 1, "Identity": 1,
                                                       "com.mace::FusedRelu": 1}
    assert (info["pb_bytes"], info["data_bytes"]) == (paths.pb.stat().st_size,
                                                      paths.data.stat().st_size)
    assert info["inputs"] == {"x": "float32[1, 3, 8, 8]"} and info["weights"] == "fp32"
    assert info["weights_bytes"] == sum(a.nbytes for a in sample_graph().constants.values())


# -- bad inputs ----------------------------------------------------------------------
def test_missing_files(saved):
    _, paths = saved
    paths.data.unlink()
    message = load_error(paths.pb)
    assert str(paths.data) in message and "not found" in message and "mace convert" in message
    paths.pb.unlink()
    assert f"{paths.pb}: model file not found" in load_error(paths.pb)
    with pytest.raises(ModelFormatError, match="not found"):
        describe(paths.pb)
    paths.pb.mkdir()
    assert "not a regular file" in load_error(paths.pb)


@pytest.mark.parametrize("which", ["pb", "data"])
@pytest.mark.parametrize("keep", [0, 1, 10, 63, 64, 100, 0.5, -1])
def test_empty_and_truncated_files(saved, which, keep):
    _, paths = saved
    path = getattr(paths, which)
    blob = path.read_bytes()
    keep = int(len(blob) * keep) if isinstance(keep, float) else keep % len(blob)
    path.write_bytes(blob[:keep])
    for verify in (True, False):
        message = load_error(paths.pb, verify)
        assert str(path) in message and "mace convert" in message
        assert ("is empty" in message.replace(str(path), "")) == (keep == 0)


def test_every_flipped_byte_of_the_pb_is_caught(saved):
    _, paths = saved
    blob = paths.pb.read_bytes()
    for i in range(len(blob)):
        flipped = bytearray(blob)
        flipped[i] ^= 0x40
        paths.pb.write_bytes(bytes(flipped))
        assert str(paths.pb) in load_error(paths.pb), i


def test_every_flipped_byte_of_the_data_is_caught(saved):
    _, paths = saved
    blob = paths.data.read_bytes()
    for i in range(len(blob)):
        flipped = bytearray(blob)
        flipped[i] ^= 0x01
        paths.data.write_bytes(bytes(flipped))
        message = load_error(paths.pb)
        assert str(paths.data) in message and "mace convert" in message, i
        assert i < 64 or "checksum mismatch" in message, i
    load_graph(paths.pb, verify=False)  # a flipped weight byte: only the data hash sees it
    paths.data.write_bytes(blob)
    load_graph(paths.pb)


@pytest.mark.parametrize("verify", [True, False])
def test_data_of_another_model_is_refused_with_both_digests(tmp_path, verify):
    a = save_model(sample_graph("a", seed=1), tmp_path)
    b = save_model(sample_graph("b", seed=2), tmp_path)
    da, db = (read_model_file(p.pb)[0].data_payload_sha256.hex()[:12] for p in (a, b))
    a.data.replace(tmp_path / "a.orig")
    b.data.replace(a.data)
    message = load_error(a.pb, verify)
    assert "another model" in message and da in message and db in message
    assert str(a.data) in message


@pytest.mark.parametrize("content", [
    b"\x00" * 100, np.random.default_rng(1).bytes(4096), b"hello, this is a text file\n",
    b"\x08\x07\x12\x04onnx",  # a protobuf of another kind (ONNX-like header)
    pb.Model(format_version=1, name="bare").SerializeToString(),  # ours, without the wrapper
])
def test_garbage_pb(tmp_path, content):
    path = tmp_path / "m.pb"
    path.write_bytes(content)
    message = load_error(path)
    assert str(path) in message and "mace convert" in message
    with pytest.raises(ModelFormatError):
        describe(path)


def test_garbage_data(saved):
    _, paths = saved
    paths.data.write_bytes(np.random.default_rng(2).bytes(paths.data.stat().st_size))
    for verify in (True, False):
        assert "not a mace-core weights file" in load_error(paths.pb, verify)


def test_future_format_versions(saved):
    _, paths = saved
    original = paths.pb.read_bytes()
    rewrite_model(paths.pb, lambda m: setattr(m, "format_version", FORMAT_VERSION + 1))
    message = load_error(paths.pb)
    assert str(paths.pb) in message and "upgrade mace-core" in message
    with pytest.raises(ModelFormatError, match="upgrade mace-core"):
        describe(paths.pb)
    paths.pb.write_bytes(original)
    blob = bytearray(paths.data.read_bytes())
    blob[8] = 2  # the version field of the .data header
    paths.data.write_bytes(bytes(blob))
    message = load_error(paths.pb, verify=False)
    assert str(paths.data) in message and "upgrade mace-core" in message


@pytest.mark.parametrize("edit, expected", [
    (lambda m: setattr(m.constants[0], "offset", m.data_size), "outside"),
    (lambda m: setattr(m.constants[0], "offset", 2**63), "outside"),
    (lambda m: setattr(m.constants[0], "offset", 96), "aligned"),
    (lambda m: setattr(m.constants[1], "offset", m.constants[0].offset), "overlap"),
    (lambda m: setattr(m.constants[0], "nbytes", 8), "does not match its shape"),
    (lambda m: m.constants[0].shape.append(-2), "does not match its shape"),
    (lambda m: setattr(m.constants[0], "dtype", 42), "unknown dtype code 42"),
    (lambda m: setattr(m.constants[2], "stored_dtype", pb.DT_INT8), "cannot convert"),
    (lambda m: setattr(m.graph.tensors[0], "dtype", 99), "unknown dtype code 99"),
    (lambda m: setattr(m.graph.tensors[0], "layout", 17), "unknown layout code 17"),
    (lambda m: m.graph.nodes[0].attributes[-1].ClearField("value"), "no value"),
    (lambda m: setattr(m.graph.nodes[0].attributes[10].tensor, "data", b"x"), "holds 1 bytes"),
    (lambda m: m.graph.tensors[1].quant.scale.append(1.0), "quantization"),
    (lambda m: setattr(m, "format_version", 0), "no format version"),
])
def test_inconsistent_records_are_refused(saved, edit, expected):
    _, paths = saved
    rewrite_model(paths.pb, edit)
    for verify in (True, False):
        message = load_error(paths.pb, verify)
        assert expected in message and str(paths.pb) in message


# -- atomic writes -------------------------------------------------------------------
def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("fail_on", [".data", ".pb"])
def test_failed_replace_leaves_previous_files_intact(saved, tmp_path, monkeypatch, fail_on):
    old_graph, paths = saved
    before = snapshot(tmp_path)
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith(fail_on):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ModelFormatError, match="No space left") as info:
        save_model(sample_graph(seed=7), tmp_path)
    assert str(paths.pb) in str(info.value)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before  # same files, same bytes, no temporary left
    assert_graphs_equal(old_graph, load_graph(paths.pb))


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(ModelFormatError, match="Input/output error"):
        save_model(sample_graph(), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("breakage, expected", [
    (lambda g: g.nodes[0].attrs.update(bad=object()), "attribute 'bad'"),
    (lambda g: g.nodes[0].attrs.update(bad=[1, "a"]), "attribute 'bad'"),
    (lambda g: g.nodes[0].attrs.update(bad=2**70), "cannot save"),
    (lambda g: g.constants.update(w_f32=np.zeros(3)), "float64"),
])
def test_unserialisable_graph_leaves_previous_files_intact(saved, tmp_path, breakage, expected):
    _, paths = saved
    before = snapshot(tmp_path)
    graph = sample_graph(seed=3)
    breakage(graph)
    with pytest.raises(ModelFormatError, match=expected):
        save_model(graph, tmp_path)
    assert snapshot(tmp_path) == before


# -- generated code ------------------------------------------------------------------
def test_generated_protobuf_code_is_current():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_proto.py"), "--check"],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
