"""Smoke test of the model benchmark harness (benchmarks/run_models.py) in --quick mode.

Runs the driver as a user would, with the engines the main environment has (mace and
onnxruntime) on the smallest zoo model, and checks the JSON and markdown it writes. No
timing assertions: --quick runs a handful of iterations on a shared machine.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mace_core.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "benchmarks" / "run_models.py"
SMALLEST = min((e for e in CATALOG.values() if getattr(e, "format", "onnx") == "onnx"),
               key=lambda e: e.size).name

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason="needs onnx and onnxruntime (pip install -e 'converters[onnx]')",
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(DRIVER), "--quick", "--models", SMALLEST,
         "--engines", "mace,onnxruntime", "--threads", "1", "--tag", "smoke",
         "--out-dir", str(out / "results"), "--cache-dir", str(out / "cache")],
        capture_output=True, text=True, timeout=900,
    )
    return out, proc


def test_driver_exits_cleanly_and_names_its_outputs(quick_run):
    out, proc = quick_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = [Path(line) for line in proc.stdout.split()]
    assert out / "results" / "smoke-cpu.json" in printed
    assert out / "results" / "smoke-cpu.md" in printed


def test_json_rows_have_sane_fields(quick_run):
    out, _ = quick_run
    results = json.loads((out / "results" / "smoke-cpu.json").read_text())
    rows = {r["engine"]: r for r in results["rows"] if r["model"] == SMALLEST}
    assert set(rows) == {"mace", "onnxruntime"}
    for engine, row in rows.items():
        assert row["status"] == "ok", (engine, row.get("reason"))
        assert row["threads"] == 1
        assert row["n"] >= 2  # two rounds, at least one iteration each
        assert 0 < row["median_ms"] <= row["p90_ms"]
        assert row["cold_ms"] > 0 and row["maxrss_mib"] > 10
        assert row["rel_err"] < 1e-3, f"{engine} disagrees with the reference"
        assert row["gflops"] > 0 and math.isfinite(row["gflops"])
        assert row["x_onnxruntime"] > 0
    assert rows["onnxruntime"]["x_onnxruntime"] == pytest.approx(1.0)
    assert rows["mace"]["best_peer"] == "onnxruntime"
    placement = rows["mace"]["info"]["ops_per_device"]
    assert sum(placement.values()) > 10 and set(placement) <= {"cpu", "reference"}
    macs = results["models"][SMALLEST]["macs"]
    assert macs["conv"] > 0 and sum(macs.values()) >= macs["conv"]
    (sgemm,) = results["sgemm"]
    assert sgemm["status"] == "ok" and sgemm["gflops"] > 0


def test_markdown_report_has_the_tables(quick_run):
    out, _ = quick_run
    text = (out / "results" / "smoke-cpu.md").read_text()
    assert "--quick" in text
    assert "## mace against onnxruntime and the best peer" in text
    table = [line for line in text.splitlines()
             if line.startswith(f"| {SMALLEST} | mace | 1 |")]
    assert len(table) == 1
    cells = [c.strip() for c in table[0].strip("|").split("|")]
    assert float(cells[3]) > 0  # median ms
    assert "mace ran on" in text


def test_onnx_cleanup_folds_affine_and_pad_into_conv_and_keeps_results():
    """The canonicalisation run on tf2onnx output: Pad -> Conv -> Mul -> Add becomes one Conv
    (pads and per-channel scale/shift folded), a leftover Pad gets explicit mode and
    constant_value, and onnxruntime gives the same outputs before and after."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from onnx_cleanup import canonicalize, op_counts

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "pads"),
        numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.uniform(0.5, 2, (1, 4, 1, 1)).astype(np.float32), "scale"),
        numpy_helper.from_array(rng.standard_normal((1, 4, 1, 1)).astype(np.float32), "shift"),
        numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads2"),
    ]
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="constant"),
        helper.make_node("Conv", ["p", "w"], ["c"], group=4, strides=[2, 2]),
        helper.make_node("Mul", ["c", "scale"], ["m"]),
        helper.make_node("Add", ["shift", "m"], ["a"]),
        helper.make_node("Pad", ["a", "pads2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = rng.standard_normal((1, 4, 9, 9)).astype(np.float32)

    def run(m):
        return ort.InferenceSession(m.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    before = run(model)
    cleaned = canonicalize(onnx.ModelProto.FromString(model.SerializeToString()))
    assert op_counts(cleaned) == {"Conv": 1, "Pad": 1}
    conv = next(n for n in cleaned.graph.node if n.op_type == "Conv")
    assert [a.ints for a in conv.attribute if a.name == "pads"] == [[0, 0, 1, 1]]
    pad = next(n for n in cleaned.graph.node if n.op_type == "Pad")
    assert len(pad.input) == 3 and any(a.name == "mode" for a in pad.attribute)
    np.testing.assert_allclose(run(cleaned), before, rtol=1e-5, atol=1e-5)
