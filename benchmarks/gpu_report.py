"""Markdown report of ``gpu_h100.py``'s results (also: ``python3 gpu_report.py RESULT.json``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

CONFIGS = ("image_untuned", "image_tuned", "buffer_untuned", "buffer_tuned")
REL_OK = 1e-3  # max |ours - eager| / max |eager| under which a speed is reported


def _f(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def model_table(result: dict, peak: float) -> list[str]:
    torch_models = result.get("torch", {}).get("models", {})
    ours = result.get("ours", {}).get("models", {})
    base = result.get("baseline", {}).get("models", {})
    lines = ["| model | engine | median ms | p90 ms | GFLOP/s | % fp32 peak | vs eager | "
             "max rel err | GPU ms (launches) |", "|" + "---|" * 9]
    for name, t in torch_models.items():
        if "error" in t:
            lines.append(f"| {name} | PyTorch | error: {t['error'][:80]} |||||||")
            continue
        flops = 2 * t["macs"]
        eager = t["eager"]["median_ms"]

        def row(engine, stats, err=None, trace=None, name=name, flops=flops, eager=eager):
            med = stats["median_ms"]
            bad = err is not None and not err < REL_OK
            gflops = "WRONG" if bad else f"{flops / med * 1e-6:.0f}"
            pct = "-" if bad else f"{flops / med * 1e-9 / peak * 100:.2f}"
            gpu = "-" if not trace else f"{trace['gpu_ms']:.3f} ({trace['launches']})"
            return (f"| {name} | {engine} | {med:.3f} | {stats['p90_ms']:.3f} | {gflops} | "
                    f"{pct} | {med / eager:.2f}x | {_f(err, 6) if err is not None else '-'} "
                    f"| {gpu} |")

        lines.append(row("PyTorch eager (cuDNN fp32)", t["eager"]))
        lines.append(row("PyTorch eager + H2D/D2H copies", t["eager_with_copies"]))
        lines.append(row("PyTorch CUDA graph", t["cuda_graph"], t.get("cuda_graph_rel")))
        lines.append(row("onnxruntime CPU EP", t["ort_cpu"], t.get("ort_rel")))
        for config in CONFIGS:
            stats = ours.get(name, {}).get(config)
            if stats:
                lines.append(row(f"mace-gpu-opencl {config.replace('_', ' ')}", stats,
                                 stats["rel_err"], stats.get("trace")))
        for config in CONFIGS:
            stats = base.get(name, {}).get(config)
            if stats:
                lines.append(row(f"before (HEAD) {config.replace('_', ' ')}", stats,
                                 stats["rel_err"], stats.get("trace")))
        if "error" in ours.get(name, {}):
            lines.append(f"| {name} | mace-gpu-opencl | error: {ours[name]['error'][:100]} "
                         "|||||||")
    return lines


def tuning_table(result: dict) -> list[str]:
    lines = ["| model | storage | untuned ms | tuned ms | gain | tuning took s |",
             "|---|---|---|---|---|---|"]
    for name, entry in result.get("ours", {}).get("models", {}).items():
        for storage in ("image", "buffer"):
            u, t = entry.get(f"{storage}_untuned"), entry.get(f"{storage}_tuned")
            if u and t:
                lines.append(f"| {name} | {storage} | {u['median_ms']:.3f} | "
                             f"{t['median_ms']:.3f} | {u['median_ms'] / t['median_ms']:.2f}x | "
                             f"{_f(entry.get(f'{storage}_tune_s'), 1)} |")
    return lines


def kernel_table(result: dict) -> list[str]:
    lines = ["| model (config) | kernel | GPU ms | launches |", "|---|---|---|---|"]
    for name, entry in result.get("ours", {}).get("models", {}).items():
        for config in ("image_tuned", "buffer_tuned"):
            trace = entry.get(config, {}).get("trace")
            if not trace:
                continue
            for kernel, v in list(trace["per_kernel"].items())[:6]:
                lines.append(f"| {name} ({config}) | {kernel} | {v['ms']:.3f} | {v['count']} |")
    return lines


def layer_table(result: dict, peak: float) -> list[str]:
    """One row per layer: cuDNN, our automatic choice, and our best variant overall, of the
    implicit GEMM and of Winograd (3x3 stride-1 layers)."""
    cudnn = result.get("torch", {}).get("layers", {})
    layers = result.get("layers", {}).get("layers", {})
    lines = ["| layer | MMAC | cuDNN us | cuDNN TFLOP/s | ours auto (image) us | TFLOP/s | "
             "% peak | best variant | best us | best % peak | best GEMM us (% peak) | "
             "best Winograd | Winograd us | Winograd TFLOP/s | Winograd % peak | "
             "best back to back | us | % peak |",
             "|" + "---|" * 18]
    for name, entry in layers.items():
        flops = 2 * entry["macs"]
        c = cudnn.get(name, {}).get("cudnn_ms")
        auto = entry["variants"].get("image:auto:0", {})
        best = entry.get("best")
        b = entry["variants"].get(best, {}) if best else {}
        g = entry["variants"].get(entry.get("best_gemm", ""), {})
        steady = entry.get("best_steady")
        st = entry["variants"].get(steady, {}).get("steady_ms") if steady else None
        wino = entry.get("best_wino")
        w = entry["variants"].get(wino, {}) if wino else {}

        def tf(ms, flops=flops):
            return None if not ms else flops / ms * 1e-9

        def pct(ms):
            return None if not ms else tf(ms) / peak * 100

        def us(ms):
            return _f(ms and ms * 1e3, 1)

        gemm = f"{us(g.get('ms'))} ({_f(pct(g.get('ms')), 1)})" if g else "-"
        lines.append(
            f"| {name} | {entry['macs'] / 1e6:.1f} | {us(c)} | "
            f"{_f(tf(c), 2)} | {us(auto.get('ms'))} | "
            f"{_f(tf(auto.get('ms')), 2)} | {_f(pct(auto.get('ms')), 1)} | "
            f"{best or '-'} | {us(b.get('ms'))} | {_f(pct(b.get('ms')), 1)} | {gemm} | "
            f"{wino or '-'} | {us(w.get('ms'))} | {_f(tf(w.get('ms')), 2)} | "
            f"{_f(pct(w.get('ms')), 1)} | {steady or '-'} | {us(st)} | {_f(pct(st), 1)} |")
    floor = result.get("layers", {}).get("floor_us")
    if floor is not None:
        lines += ["", f"An empty kernel takes {floor:.1f} us of event time alone, "
                  f"{_f(result['layers'].get('steady_floor_us'), 1)} us per launch back to "
                  "back: the least one launch costs (a split-K sum is a second launch). "
                  "Columns before 'best back to back' time one run alone (GPU idle before "
                  "it); that one times the run replayed back to back (from the first "
                  "launch's start to the last one's end), as the cuDNN column (a CUDA graph "
                  "replayed)."]
    return lines


def other_tables(result: dict) -> list[str]:
    lines = []
    over, base = result.get("overhead", {}), result.get("overhead_baseline", {})
    if over and "error" not in over:
        lines += ["", "### Host time per launch (chains of 100 tiny ops)", "",
                  "| chain | ours us/op (event-less) | pyopencl enqueue | profiling queue | "
                  "before (HEAD) us/op | GPU ms of the chain |", "|---|---|---|---|---|---|"]
        for kind in ("Relu", "Conv1x1"):
            v = over.get(kind)
            if not v:
                continue
            m = v.get("modes_us_per_op", {})
            b = base.get(kind, {}).get("us_per_op")
            lines.append(f"| {kind} | {v['us_per_op']:.1f} | {_f(m.get('pyopencl_enqueue'), 1)}"
                         f" | {_f(m.get('profiling_queue'), 1)} | {_f(b, 1)} | "
                         f"{v['gpu_ms']:.3f} |")
        if "enqueue_us" in over:
            lines += ["", "Enqueue alone (us): " + ", ".join(
                f"{k} {v:.1f}" for k, v in over["enqueue_us"].items())]
        ext = over.get("extensions", [])
        lines += ["", "cl_khr_command_buffer: "
                  + ("yes" if "cl_khr_command_buffer" in ext else "no")]
    sweeps = [(name, storage, entry[f"{storage}_sweep"])
              for name, entry in result.get("ours", {}).get("models", {}).items()
              for storage in ("image", "buffer") if entry.get(f"{storage}_sweep")]
    if sweeps:
        keys = list(sweeps[0][2])
        lines += ["", "### Queue variants (tuned; median ms)", "",
                  "| model | storage | " + " | ".join(keys) + " |",
                  "|---|---|" + "---|" * len(keys)]
        for name, storage, v in sweeps:
            lines.append(f"| {name} | {storage} | " + " | ".join(f"{v[k]:.3f}" for k in keys)
                         + " |")
    cold = result.get("cold", {})
    if cold:
        lines += ["", "### Cold start (fresh process: import, session with program builds, "
                  "first run)", "", "| model | caches | import s | session s | first run s | "
                  "to first result s | programs from |", "|---|---|---|---|---|---|---|"]
        for model, cases in cold.items():
            for label, v in cases.items():
                if "error" in v:
                    lines.append(f"| {model} | {label} | error |||||")
                    continue
                lines.append(f"| {model} | {label} | {v['import_s']:.2f} | {v['session_s']:.2f} "
                             f"| {v['first_run_s']:.3f} | {v['to_first_result_s']:.2f} | "
                             f"{v['programs']} |")
    split = result.get("ours", {}).get("models", {}).get("resnet50", {}).get("split")
    whole = result.get("ours", {}).get("models", {}).get("resnet50", {}).get("image_untuned")
    if split and whole:
        lines += ["", "### Kernel splitting (ResNet-50, first storage, untuned)", "",
                  "| gpu_kernel_time_limit_ms | median ms | max kernel/chunk ms | "
                  "split launches | enqueues | GPU ms |", "|---|---|---|---|---|---|"]
        for label, v in [("none", whole), *split.items()]:
            tr = v["trace"]
            lines.append(f"| {label} | {v['median_ms']:.3f} | {tr['max_chunk_ms']:.3f} | "
                         f"{tr['split_launches']} | {tr['enqueues']} | {tr['gpu_ms']:.3f} |")
    return lines


def zoo_section(result: dict, peak: float) -> list[str]:
    """The zoo models on the GPU (``gpu_zoo.py``), when that phase ran."""
    zoo = result.get("zoo")
    if not zoo:
        return []
    if "error" in zoo and len(zoo) == 1:
        return ["", "## Zoo models", "", zoo["error"]]
    from gpu_zoo import table

    devices = next((row["devices"] for row in zoo.values() if "devices" in row),
                   ["gpu", "reference"])
    return ["", f"## Zoo models (devices {', '.join(devices)}: ops the GPU does not take run "
            "on the next; error vs the source framework)", "", *table(zoo, peak)]


def test_lines(result: dict) -> list[str]:
    tests = result.get("tests")
    if not tests:
        return []
    return ["", f"## Tests on this GPU ({tests['files']})", "", tests["summary"]]


def report(result: dict) -> str:
    peak = result.get("peak_tflops", 67.0)
    t = result.get("torch", {})
    lines = [f"# mace-gpu-opencl on {t.get('device', '?')} ({result.get('time', '')})", "",
             f"nvidia-smi: {result.get('nvidia_smi', '')}; torch {t.get('torch', '?')}; "
             f"% peak uses {peak} TFLOP/s (H100 SXM FP32 non-tensor). Latency = wall clock "
             "per inference at batch 1 (ours: numpy in, numpy out; PyTorch eager: input "
             "already on the GPU, synchronized). GFLOP/s = 2 x MACs / median.", "",
             "## Models", "", *model_table(result, peak), "", "## Tuning", "",
             *tuning_table(result), "", "## Where the GPU time goes (tuned)", "",
             *kernel_table(result), "", "## Single layers (GPU time from events)", "",
             *layer_table(result, peak), *zoo_section(result, peak), *other_tables(result),
             *test_lines(result), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(json.loads(Path(sys.argv[1]).read_text())))
