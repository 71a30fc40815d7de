"""Local work size tuning: tune_model writes a per-device JSON file, sessions use it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gpu_cases import Case, build, check, rand, traced

from mace_core.runtime.model import Model
from mace_gpu_opencl.launch import heuristic_local
from mace_gpu_opencl.tuning import FORMAT, Tuner, candidates, device_key, tune_model

TWO_CONVS = Case("tune_conv", "Conv", [(1, 6, 12, 10), rand(8, 6, 3, 3)], {"pads": [1, 1, 1, 1]})


@pytest.fixture
def model_pb(tmp_path):
    from mace_core.model_format import save_model

    graph, feeds = build(TWO_CONVS)
    return save_model(graph, tmp_path / "model").pb, graph, feeds


def test_tune_model_writes_results_sessions_use(gpu, model_pb, tmp_path):
    pb, graph, feeds = model_pb
    out = tmp_path / "tuning.json"
    found = tune_model(pb, out, storage="buffer", candidates_per_kernel=3)
    data = json.loads(out.read_text())
    assert data["format"] == FORMAT
    section = data["devices"][device_key(gpu.info)]
    assert section["entries"] == {k: None if v is None else list(v) for k, v in found.items()}
    assert list(found) == ["conv2d_3x3@buffer-fp32:2x3x12"]
    assert all(ms > 0 for ms in section["best_ms"].values())

    # a hand-edited entry (odd sizes that need rounding of the global size) is obeyed
    key = next(iter(found))
    section["entries"][key] = [2, 2, 5]
    out.write_text(json.dumps(data))
    session = Model(graph).session(["gpu"], gpu_storage="buffer", gpu_tuning_file=str(out))
    result, trace = traced(gpu, session, feeds)
    assert [(r.name, r.local) for r in trace] == [("conv2d_3x3", (2, 2, 5))]
    reference = Model(graph).session(["reference"]).run(feeds)["y"]
    check(result["y"], reference, False)
    gpu.tuner.table.pop(key)


def test_file_for_another_device_warns(gpu, tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": FORMAT, "devices": {"Some GPU | 1.0": {
        "entries": {"conv2d@image-fp32:1x1x1": [1, 1, 1]}}}}))
    tuner = Tuner(gpu.info)
    with pytest.warns(UserWarning, match="no results for .*Some GPU"):
        assert tuner.load(path) == 0
    assert tuner.table == {}


def test_not_a_tuning_file(gpu, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="is not a tuning file"):
        Tuner(gpu.info).load(path)


def test_save_merges_devices(gpu, tmp_path):
    path = tmp_path / "merged.json"
    path.write_text(json.dumps({"format": FORMAT, "devices": {"Other | 2": {"entries": {}}}}))
    tuner = Tuner(gpu.info)
    tuner.table["k@buffer-fp32:4x4"] = (2, 2)
    tuner.save(path)
    devices = json.loads(path.read_text())["devices"]
    assert set(devices) == {"Other | 2", device_key(gpu.info)}
    assert devices[device_key(gpu.info)]["entries"] == {"k@buffer-fp32:4x4": [2, 2]}


@pytest.mark.parametrize("gws", [(1, 1, 1), (3, 7, 100), (64, 64, 64), (1000, 3)])
def test_candidates_fit(gws):
    found = candidates(gws, 256, 12)
    assert found[0] is None and 1 <= len(found) <= 12
    for local in found[1:]:
        assert len(local) == len(gws) and 8 <= int(np.prod(local)) <= 256
        assert all(lx <= max(1, 1 << (g - 1).bit_length()) for lx, g in zip(local, gws,
                                                                             strict=True))


@pytest.mark.parametrize("gws", [(1, 1, 1), (3, 7, 100), (64, 64, 64), (1000, 3)])
def test_heuristic(gws):
    assert heuristic_local(gws, 1024, cpu=True) is None
    local = heuristic_local(gws, 1024, cpu=False)
    assert len(local) == len(gws) and int(np.prod(local)) <= 64
    assert all(lx <= g for lx, g in zip(local, gws, strict=True))


def test_tuning_session_plans_each_launch_once(gpu, monkeypatch):
    """After its first run a tuning session resolves no local size again: launches whose
    local size is pinned (GEMM, Winograd) keep their plan like tuned ones (re-planning them
    every launch once cost ~10% of a run's host time)."""
    from mace_gpu_opencl.launch import Launcher

    case = Case("tune_gemm_conv", "Conv", [(1, 40, 9, 9), rand(48, 40, 1, 1)])
    graph, feeds = build(case)
    session = Model(graph).session(["gpu"], gpu_storage="buffer", gpu_tuning=2,
                                   gpu_conv_kernel="conv2d_gemm")
    ref = Model(graph).session(["reference"]).run(feeds)["y"]
    check(session.run(feeds)["y"], ref, half=False)
    calls = []
    original = Launcher.local_size

    def counted(self, gws):
        calls.append(self.name)
        return original(self, gws)

    monkeypatch.setattr(Launcher, "local_size", counted)
    for _ in range(3):
        session.run(feeds)
    _, trace = traced(gpu, session, feeds)
    assert any(r.name.startswith("conv2d_gemm") for r in trace), [r.name for r in trace]
    assert calls == []
