"""Deployment files: parsing, the errors for bad files, source resolution, build + validate."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mace_core.deploy import (
    DeployError,
    build,
    load_deploy,
    random_feeds,
    resolve_source,
    validate,
)
from mace_core.dtypes import DType

yaml = pytest.importorskip("yaml", reason="deployment files need PyYAML (mace-core[deploy])")
onnx = pytest.importorskip("onnx", reason="the build test converts an ONNX model")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


@pytest.fixture
def onnx_model(tmp_path) -> Path:
    """y = relu(conv(x)) with x [1, 3, 8, 8]."""
    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(
        nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_operatorsetid("", 13)])
    path = tmp_path / "net.onnx"
    onnx.save(model, str(path))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deploy.yml"
    path.write_text(textwrap.dedent(text))
    return path


def valid_text(sha: str, **overrides: str) -> str:
    fields = {
        "platform": "onnx", "source": "net.onnx", "sha256": sha,
        "inputs": "[{name: x, shape: [1, 3, 8, 8], range: [0, 2]}]",
        "outputs": "[{name: y}]", "runtime": "[reference]",
    }
    fields.update(overrides)
    body = "\n".join(f"    {k}: {v}" for k, v in fields.items() if v is not None)
    return f"models:\n  net:\n{body}\n"


def test_a_valid_file_parses_into_typed_sections(tmp_path, onnx_model):
    text = valid_text(digest(onnx_model), data_type="fp16",
                      gpu="{storage: buffer, kernel_time_limit_ms: 8}",
                      validation="{cosine_min: 0.999, rel_max: 0.001}")
    config = load_deploy(write(tmp_path, text))
    model = config.models["net"]
    assert (model.platform, model.data_type, model.runtime) == ("onnx", "fp16", ("reference",))
    assert model.inputs[0].shape == (1, 3, 8, 8) and model.inputs[0].dtype == DType.FLOAT32
    assert model.inputs[0].range == (0.0, 2.0)
    assert (model.gpu.storage, model.gpu.kernel_time_limit_ms) == ("buffer", 8.0)
    assert (model.validation.cosine_min, model.validation.rel_max) == (0.999, 0.001)
    feeds = random_feeds(model)
    assert feeds["x"].shape == (1, 3, 8, 8) and feeds["x"].min() >= 0 and feeds["x"].max() <= 2


@pytest.mark.parametrize("overrides, where, shown", [
    ({"colour": "blue"}, "models.net.colour", "unknown key"),
    ({"platform": "caffe"}, "models.net.platform", "onnx | tensorflow | tflite"),
    ({"inputs": "[{name: x, shape: [1, -3, 8]}]"}, "models.net.inputs[0].shape", "[1, -3, 8]"),
    ({"inputs": "[{name: x, shape: 224}]"}, "models.net.inputs[0].shape", "positive integers"),
    ({"inputs": "{name: x}"}, "models.net.inputs", "a list of"),
    ({"inputs": "[{name: x, shape: [1], dtype: float64}]"}, "models.net.inputs[0].dtype",
     "float32"),
    ({"inputs": "[{name: x, shape: [1], range: [2, 1]}]"}, "models.net.inputs[0].range",
     "low <= high"),
    ({"runtime": "cpu"}, "models.net.runtime", "non-empty list"),
    ({"data_type": "int8"}, "models.net.data_type", "quantization"),
    ({"data_type": "bf16"}, "models.net.data_type", "fp32 | fp16 | int8"),
    ({"gpu": "{storage: texture}"}, "models.net.gpu.storage", "image | buffer"),
    ({"gpu": "{kernel_time_limit_ms: -1}"}, "models.net.gpu.kernel_time_limit_ms", "positive"),
    ({"validation": "{cosine_min: yes}"}, "models.net.validation.cosine_min", "number"),
    ({"sha256": "abc"}, "models.net.sha256", "64 hex digits"),
    ({"source": "pypi:mediapipe/x.tflite"}, "models.net.source", "PACKAGE==VERSION"),
    ({"sha256": None}, "models.net.sha256", "missing"),
])
def test_bad_files_name_the_key_path_the_value_and_what_is_allowed(tmp_path, overrides, where,
                                                                   shown):
    path = write(tmp_path, valid_text("cd" * 32, **overrides))
    with pytest.raises(DeployError) as info:
        load_deploy(path)
    message = str(info.value)
    assert message.startswith(where), message
    assert shown in message, message


def test_top_level_errors(tmp_path):
    with pytest.raises(DeployError, match=r"^\(top level\)\.model: unknown key"):
        load_deploy(write(tmp_path, "model: {}\n"))
    with pytest.raises(DeployError, match=r"^models: .*non-empty mapping"):
        load_deploy(write(tmp_path, "models: []\n"))
    with pytest.raises(DeployError, match="not valid YAML"):
        load_deploy(write(tmp_path, "models: [unclosed\n"))


def test_checksum_mismatch_refuses_with_both_digests(tmp_path, onnx_model):
    config = load_deploy(write(tmp_path, valid_text("ab" * 32)))
    with pytest.raises(DeployError) as info:
        build(config, tmp_path / "out")
    message = str(info.value)
    assert message.startswith("models.net.sha256")
    assert digest(onnx_model) in message and "ab" * 32 in message
    assert not (tmp_path / "out").exists()


def test_build_and_validate(tmp_path, onnx_model):
    config = load_deploy(write(tmp_path, valid_text(digest(onnx_model), data_type="fp16")))
    built = build(config, tmp_path / "out", log=lambda message: None)
    result = built["net"]
    assert result.pb == tmp_path / "out" / "net.pb" and result.data.is_file()
    report = validate(config, built)
    assert [c.name for c in report["net"]] == ["y"]
    assert report["net"][0].cosine > 0.999


def test_declared_io_must_match_the_model(tmp_path, onnx_model):
    text = valid_text(digest(onnx_model), outputs="[{name: logits}]")
    with pytest.raises(DeployError, match=r"^models\.net\.outputs\[0\]\.name: 'logits'"):
        build(load_deploy(write(tmp_path, text)), tmp_path / "out")


def test_pypi_source_uses_the_verified_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MACE_CACHE_DIR", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / "somepkg-1.0" / "model.tflite"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"TFL3 model bytes")
    text = valid_text(digest(cached), platform="tflite",
                      source="pypi:somepkg==1.0/somepkg/models/model.tflite")
    config = load_deploy(write(tmp_path, text))
    assert resolve_source(config.models["net"], tmp_path) == cached
