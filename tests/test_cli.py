"""The ``mace`` command line on a small real ONNX CNN, and its bad-input behaviour."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mace_core.cli.main import main

pytest.importorskip("onnxruntime", reason="mace validate compares against onnxruntime")


def mace(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mace_core.cli.main", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def converted(tiny_cnn_onnx, tmp_path):
    assert main(["convert", str(tiny_cnn_onnx), "-o", str(tmp_path / "out"), "-q"]) == 0
    return tiny_cnn_onnx, tmp_path / "out" / "tiny_cnn.pb"


def test_convert_writes_pb_and_data(converted):
    _, pb = converted
    assert pb.exists() and pb.with_suffix(".data").exists()


def test_validate_matches_onnxruntime(converted, capsys):
    src, pb = converted
    assert main(["validate", str(src), str(pb), "--device", "reference"]) == 0
    out = capsys.readouterr().out
    assert "probs" in out and "all 1 outputs match" in out


def test_run_with_npz_roundtrip(converted, tmp_path):
    _, pb = converted
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "in.npz", input=x)
    assert main(["run", str(pb), "--inputs", str(tmp_path / "in.npz"),
                 "--outputs", str(tmp_path / "o.npz"), "--device", "reference"]) == 0
    with np.load(tmp_path / "o.npz") as data:
        probs = data["probs"]
    assert probs.shape == (1, 10)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)


def test_run_profile_and_benchmark(converted, capsys):
    _, pb = converted
    assert main(["run", str(pb), "--device", "reference", "--profile"]) == 0
    assert main(["benchmark", str(pb), "--device", "reference", "--runs", "3",
                 "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "median" in out and "p90" in out and "Conv" in out


def test_info_and_memory_table(converted, capsys):
    _, pb = converted
    assert main(["info", "--memory", str(pb)]) == 0
    out = capsys.readouterr().out
    assert "lower bound" in out.lower()


def test_plugins_and_devices_commands():
    proc = mace("plugins")
    assert proc.returncode == 0 and "reference" in proc.stdout and "loaded" in proc.stdout
    proc = mace("devices")
    assert proc.returncode == 0 and "reference" in proc.stdout


def test_help_of_every_command():
    for command in ["convert", "run", "validate", "benchmark", "info", "plugins", "devices"]:
        proc = mace(command, "--help")
        assert proc.returncode == 0, command
        assert "usage: mace " + command in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "nope.pb"], "nope.pb"),
        (["convert", "nope.onnx", "-o", "out"], "does not exist"),
        (["info", "nope.pb"], "nope.pb"),
    ],
)
def test_missing_files_give_clear_errors(args, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mace_core.cli.main", *args],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_bad_input_shape_flag(tiny_cnn_onnx, tmp_path):
    proc = mace("convert", str(tiny_cnn_onnx), "-o", str(tmp_path), "--input-shape", "input=1,a")
    assert proc.returncode == 2 and "NAME=DIMS" in proc.stderr


def test_wrong_inputs_npz(converted, tmp_path):
    _, pb = converted
    np.savez(tmp_path / "bad.npz", input=np.zeros((1, 3, 16, 16), np.float32))
    proc = mace("run", str(pb), "--inputs", str(tmp_path / "bad.npz"), "--device", "reference")
    assert proc.returncode == 2
    assert "expects [1, 3, 32, 32]" in proc.stderr
    (tmp_path / "garbage.npz").write_bytes(b"not an npz")
    proc = mace("run", str(pb), "--inputs", str(tmp_path / "garbage.npz"))
    assert proc.returncode == 2 and "cannot read inputs file" in proc.stderr


def test_unknown_device(converted):
    _, pb = converted
    proc = mace("run", str(pb), "--device", "npu")
    assert proc.returncode == 2 and "npu" in proc.stderr and "mace devices" in proc.stderr


def test_validate_detects_mismatch(converted, tmp_path):
    """A model whose weights were changed after conversion must fail validation (exit 1)."""
    import onnx
    from onnx import numpy_helper

    src, pb = converted
    model = onnx.load(str(src))
    for init in model.graph.initializer:
        if init.name == "fc_w":  # (a bias shift would vanish in the Softmax)
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.5, "fc_w"))
    other = tmp_path / "changed.onnx"
    onnx.save(model, str(other))
    proc = mace("validate", str(other), str(pb), "--device", "reference")
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout


def test_convert_and_validate_with_a_deployment_file(tiny_cnn_onnx, tmp_path, capsys):
    import hashlib

    pytest.importorskip("yaml", reason="deployment files need PyYAML (mace-core[deploy])")
    digest = hashlib.sha256(tiny_cnn_onnx.read_bytes()).hexdigest()
    config = tmp_path / "deploy.yml"
    config.write_text(
        "models:\n"
        "  tiny:\n"
        "    platform: onnx\n"
        f"    source: {tiny_cnn_onnx.name}\n"
        f"    sha256: {digest}\n"
        "    inputs: [{name: input, shape: [1, 3, 32, 32], dtype: float32, range: [0, 1]}]\n"
        "    runtime: [reference]\n"
    )
    out = tmp_path / "built"
    assert main(["convert", "--config", str(config), "-o", str(out)]) == 0
    assert (out / "tiny.pb").exists() and (out / "tiny.data").exists()
    assert main(["validate", "--config", str(config), "-o", str(out)]) == 0
    assert "all 1 outputs match" in capsys.readouterr().out
    config.write_text(config.read_text().replace(digest, "ab" * 32))
    proc = mace("convert", "--config", str(config), "-o", str(out))
    assert proc.returncode == 2 and digest[:12] in proc.stderr and "Traceback" not in proc.stderr
