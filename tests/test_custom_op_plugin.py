"""The example third-party package (examples/custom_op_plugin), installed for real into a
throwaway virtual environment, adds an op that an ONNX model uses; the model converts and runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom_op_plugin"


def test_example_is_small():
    code = (EXAMPLE / "src" / "mace_swish" / "__init__.py").read_text().splitlines()
    assert len(code) <= 40


def test_custom_op_package_installed_converts_and_runs(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the test model is built with onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Swish", ["x"], ["y"], domain="com.example", beta=1.5, name="sw")
    relu = helper.make_node("Relu", ["y"], ["z"], name="relu")
    graph = helper.make_graph(
        [node, relu], "swish_model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 5])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.example", 1)])
    src = tmp_path / "swish.onnx"
    onnx.save(model, str(src))

    # A real pip install (wheel build, dist-info with the entry point) into its own prefix,
    # put on the path of a fresh interpreter: the running test process stays untouched.
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(EXAMPLE)], check=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    script = textwrap.dedent(f"""
        import numpy as np, mace_core
        from mace_core.cli.main import main
        assert main(["convert", {str(src)!r}, "-o", {str(tmp_path / "out")!r}, "-q"]) == 0
        model = mace_core.load({str(tmp_path / "out" / "swish.pb")!r})
        x = np.linspace(-3, 3, 10, dtype=np.float32).reshape(2, 5)
        z = model.session(["reference"]).run({{"x": x}})["z"]
        np.save({str(tmp_path / "z.npy")!r}, z)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    x = np.linspace(-3, 3, 10, dtype=np.float32).reshape(2, 5)
    expected = np.maximum(x / (1 + np.exp(-1.5 * x)), 0)
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), expected, rtol=1e-6)


def test_without_the_plugin_the_error_names_the_op_and_the_way_out(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the test model is built with onnx")
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Swish", ["x"], ["y"], domain="com.example", name="sw1"),
             helper.make_node("FancyNorm", ["y"], ["z"], domain="com.example", name="fn1")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.example", 1)])
    src = tmp_path / "custom.onnx"
    onnx.save(model, str(src))
    proc = subprocess.run([sys.executable, "-m", "mace_core.cli.main", "convert", str(src),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "com.example::Swish: sw1" in proc.stderr
    assert "com.example::FancyNorm: fn1" in proc.stderr
    assert "custom-op plugin" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "custom.pb").exists()
