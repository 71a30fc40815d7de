"""The ONNX backend node tests, run through the ONNX frontend and the reference device.

Each case is a tiny model (usually one node) with inputs and expected outputs. A case runs
when every op it uses has a schema in the registry and its inputs and outputs are tensors of
element types mace-core supports; it is converted with ``import_model``, run on the
reference device and compared with the expected outputs (floats to rtol 1e-4 / atol 1e-5,
float16 to 1e-3, integers and bools exactly).

The data comes from the onnx package (``onnx/backend/test/data/node``). Wheels that do not
ship it still ship the generators (``onnx.backend.test.case.node``); the same files are then
generated once per onnx version into the temp directory.

Graph inputs whose values shape inference needs (Pad's pads, Reshape's shape, an If
condition...) are frozen into initializers from the case's data, as mace-core takes such
values as constants (and resolves If at conversion time).

``test_suite_summary`` writes per-op tables (JSON + markdown) under the pytest tmp dir,
prints the failures grouped by reason and enforces the pass-count floor.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np
import pytest

from mace_core.errors import ConversionError, MaceError, UnsupportedOpError, ValidationError
from mace_core.pipeline import import_model
from mace_core.registry import default_registry
from mace_core.runtime.model import Model
from mace_core.specs import ConvertOptions

onnx = pytest.importorskip("onnx", reason="the ONNX node suite needs the onnx package")
from mace_converters.onnx_frontend.builder import FRONTEND_OPS, unique_node_names  # noqa: E402
from mace_converters.onnx_frontend.loading import default_opset  # noqa: E402
from mace_converters.onnx_frontend.tensors import ONNX_TO_DTYPE  # noqa: E402
from onnx import TensorProto, numpy_helper  # noqa: E402

# Cases that run but are known to fail, by fnmatch pattern, each with the reason.
# A listed case that passes fails the suite: take it off the list.
EXPECTED_FAILURES: dict[str, str] = {
    # By design: mace-core runs inference only.
    "test_batchnorm_*_training_mode": "BatchNormalization training mode (batch statistics)",
    "test_training_dropout": "random Dropout in training mode",
    "test_training_dropout_default*": "random Dropout in training mode",
    "test_training_dropout_mask": "random Dropout in training mode",
    # By design: no float64 in mace-core; these function bodies compute in double.
    "test_reduce_log_sum_exp_empty_set_expanded": "Cast to DOUBLE inside the function body",
    "test_attention_local_window_gqa_rank4_mask_expanded": "Cast to DOUBLE inside the function "
    "body",
    # Resize kernel gaps.
    "test_resize_downsample_*_antialias": "Resize antialias=1 is not implemented",
    # The expected data maps align_corners coordinates with the fractional output length
    # (scale * input length); onnxruntime and the Resize kernel use the integer length.
    "test_resize_downsample_scales_*_align_corners": "align_corners with a fractional "
    "output length",
}

# At least this many cases must pass (raise it as ops land; never lower it silently).
PASS_FLOOR = 1013

# Cases whose expected floats carry fewer digits than our default tolerance needs.
TOLERANCE_OVERRIDES: dict[str, tuple[float, float]] = {
    # the expected output is rounded to 4 decimals in the ONNX test data
    "test_averagepool_2d_ceil_last_window_starts_on_pad": (1e-3, 1e-4),
}

FLOAT_TOLERANCE = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float16): (1e-3, 1e-3)}


# -- test data ---------------------------------------------------------------------------
def _write_case(case, root: Path) -> None:
    out = root / case.name
    (out / "test_data_set_0").mkdir(parents=True)
    (out / "model.onnx").write_bytes(case.model.SerializeToString())
    inputs, outputs = case.data_sets[0]
    for kind, values, infos in (("input", inputs, case.model.graph.input),
                                ("output", outputs, case.model.graph.output)):
        for j, (value, info) in enumerate(zip(values, infos, strict=False)):
            tensor = value if isinstance(value, TensorProto) else \
                numpy_helper.from_array(np.asarray(value), info.name)
            (out / "test_data_set_0" / f"{kind}_{j}.pb").write_bytes(tensor.SerializeToString())


def _generate(target: Path) -> None:
    """Write every tensor-only node case in the layout of onnx/backend/test/data/node."""
    from onnx.backend.test.case.node import collect_testcases

    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    for case in cases:
        io = list(case.model.graph.input) + list(case.model.graph.output)
        if all(v.type.HasField("tensor_type") for v in io):
            _write_case(case, staging)
    try:
        os.rename(staging, target)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)


def node_data_dir() -> Path:
    """Where the node cases live: in the onnx package, or generated into the temp dir."""
    shipped = Path(onnx.__file__).parent / "backend" / "test" / "data" / "node"
    if shipped.is_dir() and any(shipped.glob("test_*")):
        return shipped
    target = Path(tempfile.gettempdir()) / f"mace-onnx-node-data-{onnx.__version__}"
    if not target.is_dir():
        _generate(target)
    return target


@attrs.frozen
class NodeCase:
    """One directory of the node suite and whether it can run here."""

    name: str
    path: Path
    ops: tuple[str, ...]
    skip_reason: str  # "" when the case runs


def _case(path: Path, schemas) -> NodeCase:
    model = onnx.load(str(path / "model.onnx"), load_external_data=False)
    keys = {("" if n.domain in ("", "ai.onnx") else n.domain, n.op_type)
            for n in model.graph.node}
    ops = tuple(sorted(f"{d}::{o}" if d else o for d, o in keys))
    missing = sorted(f"{d}::{o}" if d else o for d, o in keys
                     if (d, o) not in schemas and (d, o) not in FRONTEND_OPS)
    return NodeCase(path.name, path, ops, _skip_reason(model, path, missing))


def _skip_reason(model: onnx.ModelProto, path: Path, missing: list[str]) -> str:
    """Why a case cannot run here ("" when it can)."""
    try:
        default_opset(model, path)
    except ConversionError:
        return "opset below 7 (refused by the frontend by design)"
    if missing:
        return "no schema: " + ", ".join(missing)
    for value in list(model.graph.input) + list(model.graph.output):
        if not value.type.HasField("tensor_type"):
            return "non-tensor input/output"
        if value.type.tensor_type.elem_type not in ONNX_TO_DTYPE:
            return f"element type {TensorProto.DataType.Name(value.type.tensor_type.elem_type)}"
    return ""


CASES = [_case(p, default_registry().schemas) for p in sorted(node_data_dir().glob("test_*"))]
RUNNABLE = [c for c in CASES if not c.skip_reason]


# -- running one case --------------------------------------------------------------------
@attrs.frozen
class Outcome:
    case: str
    ops: tuple[str, ...]
    status: str  # "pass", or the failure category
    detail: str = ""
    note: str = ""


def _load_pb(path: Path) -> np.ndarray:
    return numpy_helper.to_array(TensorProto.FromString(path.read_bytes()))


def _mismatch(name: str, ours: np.ndarray, ref: np.ndarray,
              rtol_atol: tuple[float, float] | None = None) -> str:
    if ours.shape != ref.shape:
        return f"{name}: shape {list(ours.shape)}, expected {list(ref.shape)}"
    if ours.dtype != ref.dtype:
        return f"{name}: dtype {ours.dtype}, expected {ref.dtype}"
    if ref.dtype in FLOAT_TOLERANCE:
        rtol, atol = rtol_atol or FLOAT_TOLERANCE[ref.dtype]
        if np.allclose(ours, ref, rtol=rtol, atol=atol, equal_nan=True):
            return ""
        err = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
        return f"{name}: values differ (max abs err {np.nanmax(err, initial=0):.3e})"
    if np.array_equal(ours, ref):
        return ""
    return f"{name}: {int(np.count_nonzero(ours != ref))} of {ref.size} elements differ"


_NEEDS_VALUE = re.compile(r"node '(?P<node>[^']+)' \(.*?\): input (?P<index>\d+) \(.*?\) "
                         r"must be known at conversion time")
# an If condition computed from graph inputs: they are named in the message
_IF_NEEDS = re.compile(r"its condition depends on run-time input\(s\) (?P<inputs>[^;]+);")


def _all_nodes(graph: onnx.GraphProto) -> Iterator[tuple[str, onnx.NodeProto, list[str]]]:
    """Every node of ``graph`` and of its If branches: its name as the frontend gives it, the
    node, and what it reads (for an If, also what its branches output)."""
    for name, node in zip(unique_node_names(graph.node), graph.node, strict=True):
        branches = [a.g for a in node.attribute if a.HasField("g")]
        yield name, node, list(node.input) + [o.name for b in branches for o in b.output]
        for sub in branches:
            yield from _all_nodes(sub)


def _input_ancestors(model: onnx.ModelProto, name: str) -> list[str]:
    """The graph inputs that tensor ``name`` is computed from (itself if it is one)."""
    reads = {o: inputs for _, n, inputs in _all_nodes(model.graph) for o in n.output}
    graph_inputs = {v.name for v in model.graph.input}
    found, stack, seen = [], [name], set()
    while stack:
        tensor = stack.pop()
        if not tensor or tensor in seen:
            continue
        seen.add(tensor)
        if tensor in graph_inputs:
            found.append(tensor)
        elif tensor in reads:
            stack.extend(reads[tensor])
    return sorted(found)


def _freeze(model: onnx.ModelProto, names: list[str],
            feeds: dict[str, np.ndarray]) -> onnx.ModelProto:
    model = onnx.ModelProto.FromString(model.SerializeToString())
    keep = [v for v in model.graph.input if v.name not in names]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    model.graph.initializer.extend(numpy_helper.from_array(feeds[n], n) for n in names)
    return model


def _inputs_needed(model: onnx.ModelProto, message: str) -> list[str]:
    """The graph inputs an import error asks to be constants ([] when it asks none)."""
    if_match = _IF_NEEDS.search(message)
    if if_match:
        return [name.strip() for name in if_match["inputs"].split(",")]
    match = _NEEDS_VALUE.search(message)
    if match is None:
        return []
    needed: set[str] = set()  # node names are unique per (sub)graph: try each match
    for name, node, _ in _all_nodes(model.graph):
        if name == match["node"] and int(match["index"]) < len(node.input):
            needed.update(_input_ancestors(model, node.input[int(match["index"])]))
    return sorted(needed)


def _convert(model: onnx.ModelProto, feeds: dict[str, np.ndarray], workdir: Path):
    """import_model on ``model``. A graph input that shape inference needs the value of
    (Pad's pads, Reshape's shape, a Range limit computed from one...) is frozen into an
    initializer from ``feeds``, as mace-core takes such values as constants. Returns the
    graph and the frozen input names."""
    frozen: list[str] = []
    while True:
        path = workdir / f"model_{len(frozen)}.onnx"
        onnx.save(model, str(path))
        try:
            return import_model(path, ConvertOptions()), frozen
        except ValidationError as exc:
            needed = _inputs_needed(model, str(exc))
            if not needed:
                raise
        frozen.extend(needed)
        model = _freeze(model, needed, feeds)


_ERROR_KINDS = {ConversionError: "conversion error", UnsupportedOpError: "unsupported",
                ValidationError: "validation error"}


def run_case(case: NodeCase) -> Outcome:
    """Convert, run and compare one case; the status names the stage that failed."""
    stage = "conversion"
    rtol_atol = TOLERANCE_OVERRIDES.get(case.name)
    try:
        model = onnx.load(str(case.path / "model.onnx"), load_external_data=False)
        inputs = [v.name for v in model.graph.input]
        problems, frozen = [], []
        for data in sorted(case.path.glob("test_data_set_*")):
            feeds = {inputs[j]: _load_pb(data / f"input_{j}.pb") for j in range(len(inputs))}
            stage = "conversion"
            with tempfile.TemporaryDirectory() as workdir:
                graph, frozen = _convert(model, feeds, Path(workdir))
            stage = "session"
            session = Model(graph).session(["reference"])
            stage = "run"
            results = session.run({k: v for k, v in feeds.items() if k in graph.inputs})
            for j, name in enumerate(graph.outputs):
                problem = _mismatch(name, np.asarray(results[name]),
                                    _load_pb(data / f"output_{j}.pb"), rtol_atol)
                if problem:
                    problems.append(problem)
        note = f"inputs frozen as constants: {', '.join(frozen)}" if frozen else ""
        if problems:
            return Outcome(case.name, case.ops, "wrong result", "; ".join(problems), note)
        return Outcome(case.name, case.ops, "pass", "", note)
    except MaceError as exc:
        kind = _ERROR_KINDS.get(type(exc), "error")
        return Outcome(case.name, case.ops, f"{stage}: {kind}", str(exc))
    except Exception as exc:  # a crash that should have been a clear MaceError
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(last.filename).name}:{last.lineno}"
        return Outcome(case.name, case.ops, f"{stage}: crash",
                       f"{type(exc).__name__}: {exc} (at {where})")


_OUTCOMES: dict[str, Outcome] = {}


def outcome_of(case: NodeCase) -> Outcome:
    if case.name not in _OUTCOMES:
        _OUTCOMES[case.name] = run_case(case)
    return _OUTCOMES[case.name]


def expected_failure(name: str) -> str | None:
    for pattern, reason in EXPECTED_FAILURES.items():
        if fnmatch.fnmatchcase(name, pattern):
            return reason
    return None



# -- tests -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", RUNNABLE, ids=[c.name for c in RUNNABLE])
def test_node_case(case: NodeCase) -> None:
    outcome = outcome_of(case)
    reason = expected_failure(case.name)
    if outcome.status == "pass":
        assert reason is None, (
            f"{case.name} passes now; remove it from EXPECTED_FAILURES (was: {reason})"
        )
        return
    if reason is not None:
        pytest.xfail(f"{reason} [{outcome.status}]")
    pytest.fail(f"{outcome.status}: {outcome.detail}", pytrace=False)


def _primary_op(case: str, ops: tuple[str, ...]) -> str:
    """The op a case tests: its only op, or the ONNX op its name starts with."""
    if len(ops) == 1:
        return ops[0]
    flat = case.removeprefix("test_").replace("_", "").lower()
    names = [n for n in _ONNX_OPS if flat.startswith(n.lower())]
    return max(names, key=len) if names else "(composite)"


_ONNX_OPS = sorted({s.name for s in onnx.defs.get_all_schemas()})


def _label(o: Outcome) -> str:
    """"pass", "not run", "xfail: <reason>" or "FAIL: <status>"."""
    if o.status in ("pass", "not run"):
        return o.status
    reason = expected_failure(o.case)
    return f"xfail: {reason}" if reason else f"FAIL: {o.status}"


def _report(outcomes: list[Outcome], out: Path) -> dict[str, list[str]]:
    """Write results.json and results.md (per-op table); return failing cases by reason."""
    per_op: dict[str, dict[str, int]] = {}
    by_reason: dict[str, list[str]] = {}
    for o in outcomes:
        label = _label(o)
        column = label.split(":")[0]
        row = per_op.setdefault(_primary_op(o.case, o.ops), dict.fromkeys(
            ("pass", "xfail", "FAIL", "not run"), 0))
        row[column] += 1
        if column in ("xfail", "FAIL"):
            by_reason.setdefault(label, []).append(o.case)
    lines = ["| op | pass | xfail | FAIL | not run |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {op} | " + " | ".join(str(v) for v in row.values()) + " |"
              for op, row in sorted(per_op.items())]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps({
        "per_op": per_op, "failures": by_reason,
        "cases": [{**attrs.asdict(o), "label": _label(o)} for o in outcomes],
    }, indent=1, default=str))
    return by_reason


def test_suite_summary(tmp_path_factory) -> None:
    """Runs every runnable case (cached), writes the tables, checks the floor."""
    outcomes = [outcome_of(c) for c in RUNNABLE]
    outcomes += [Outcome(c.name, c.ops, "not run", c.skip_reason) for c in CASES
                 if c.skip_reason]
    out = tmp_path_factory.mktemp("onnx_node_suite")
    by_reason = _report(outcomes, out)
    passed = sum(o.status == "pass" for o in outcomes)
    print(f"\nONNX node suite: {passed} passed of {len(RUNNABLE)} runnable "
          f"({len(CASES)} cases in all); tables in {out}")
    for label, cases in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        shown = ", ".join(cases[:8]) + (f" (+{len(cases) - 8} more)" if len(cases) > 8 else "")
        print(f"  {len(cases):4d}  {label}\n        {shown}")
    assert passed >= PASS_FLOOR, f"{passed} cases pass, fewer than the floor {PASS_FLOOR}"
    unexpected = [case for label, cases in by_reason.items() if label.startswith("FAIL")
                  for case in cases]
    assert not unexpected, f"{len(unexpected)} unexpected failures: {unexpected[:20]}"
