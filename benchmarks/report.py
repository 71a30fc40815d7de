"""Writes the benchmark results as JSON, a markdown report and a bar chart."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from engines import PEERS

COLUMNS = ["model", "engine", "thr", "median ms", "p90 ms", "GFLOP/s", "% peak",
           "x onnxruntime", "x best peer", "peak RSS MiB", "cold start ms", "n", "rel.err",
           "top1"]


def _f(value, fmt: str = ".2f", empty: str = "") -> str:
    return empty if value is None else format(value, fmt)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _placement(row: dict) -> str:
    info = row.get("info") or {}
    counts = info.get("ops_per_device")
    if not counts:
        return ""
    text = ", ".join(f"{d} {n}" for d, n in counts.items())
    if info.get("fallback_ops"):
        kinds = ", ".join(f"{k}:{v}" for k, v in info.get("fallback_by_type", {}).items())
        text += f" (fallback {info['fallback_ops']}: {kinds})"
    return text


def _mace_status(rows: list[dict]) -> str:
    for row in rows:
        info = row.get("info") or {}
        if row["engine"] == "mace" and "devices" in info:
            if "cpu" in info["devices"]:
                return ("mace ran on its `cpu` device (mace-cpu C kernels) with per-op fallback "
                        "to the numpy `reference` device.")
            why = "; ".join(f"{d}: {r}" for d, r in info.get("unavailable", {}).items())
            return ("**mace ran on the numpy `reference` device only** (the `cpu` device is "
                    f"not available: {why or 'not installed'}).")
    return "mace did not run."


def _result_rows(results: dict) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|---|---|" + "---:|" * (len(COLUMNS) - 3) + ":-:|"]
    for row in results["rows"]:
        if row["status"] != "ok":
            continue
        top1 = {True: "Y", False: "N"}.get(row.get("top1"), "")
        cells = [row["model"], row["engine"], str(row["threads"]), _f(row["median_ms"]),
                 _f(row["p90_ms"]), _f(row.get("gflops"), ".1f"),
                 _f(row.get("pct_peak"), ".0f") + ("%" if row.get("pct_peak") else ""),
                 _f(row.get("x_onnxruntime")), _f(row.get("x_best_peer")),
                 _f(row.get("maxrss_mib"), ".0f"), _f(row.get("cold_ms"), ".0f"),
                 str(row["n"]), _f(row.get("rel_err"), ".1e"), top1]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _summary_rows(results: dict) -> list[str]:
    lines = ["| model | thr | mace ms | onnxruntime ms | mace x onnxruntime | best peer | "
             "best peer ms | mace x best peer | mace placement |",
             "|---|---:|---:|---:|---:|---|---:|---:|---|"]
    by_key: dict[tuple[str, int], dict[str, dict]] = {}
    for row in results["rows"]:
        by_key.setdefault((row["model"], row["threads"]), {})[row["engine"]] = row
    for (model, threads), engines in by_key.items():
        mace, ort = engines.get("mace", {}), engines.get("onnxruntime", {})
        if mace.get("status") != "ok":
            mace_ms = mace.get("status", "not run") + (
                f": {mace['reason'][:120]}" if mace.get("reason") else "")
        else:
            mace_ms = _f(mace["median_ms"])
        best = mace.get("best_peer") or next(
            (r.get("best_peer") for r in engines.values() if r.get("best_peer")), None)
        best_ms = engines[best]["median_ms"] if best else None
        lines.append(f"| {model} | {threads} | {mace_ms} | {_f(ort.get('median_ms'))} | "
                     f"{_f(mace.get('x_onnxruntime'))} | {best or ''} | {_f(best_ms)} | "
                     f"{_f(mace.get('x_best_peer'))} | {_placement(mace)} |")
    return lines


def _model_rows(results: dict) -> list[str]:
    lines = ["| model | source | input | MMACs (conv / depthwise / dense) | params (M) | "
             "ops in our IR |", "|---|---|---|---|---:|---|"]
    for name, model in results["models"].items():
        macs = model.get("macs") or {}
        mmacs = (f"{sum(macs.values()) / 1e6:.1f} ({macs['conv'] / 1e6:.1f} / "
                 f"{macs['depthwise'] / 1e6:.1f} / {macs['dense'] / 1e6:.1f})" if macs else "")
        inputs = ", ".join(f"{k} {'x'.join(map(str, v)) or 'scalar'}"
                           for k, v in (model.get("inputs") or {}).items())
        ops = ", ".join(f"{k}:{v}" for k, v in (model.get("mace_ops") or {}).items())
        params = _f(model["params"] / 1e6) if model.get("params") else ""
        lines.append(f"| {name} | {model.get('source')} | {inputs} | {mmacs} | {params} | "
                     f"{ops} |")
    return lines


def _profile_rows(results: dict, top: int = 5) -> list[str]:
    """mace's slowest op types per model (profiled runs after the timing, fewest threads)."""
    lines = ["| model | thr | profiled ms | slowest op types (ms, device) |", "|---|---:|---:|---|"]
    threads = min(results["settings"]["threads"])
    for row in results["rows"]:
        profile = row.get("profile_ms")
        if row["engine"] != "mace" or row["threads"] != threads or not profile:
            continue
        worst = ", ".join(f"{k.split('@')[0]} {v:.2f} ({k.split('@')[1]})"
                          for k, v in list(profile.items())[:top])
        lines.append(f"| {row['model']} | {threads} | {sum(profile.values()):.2f} | {worst} |")
    return lines


def _problems(results: dict) -> list[str]:
    lines = []
    for engine, why in results.get("unavailable_engines", {}).items():
        lines.append(f"- engine **{engine}** not run: {why}")
    for name, model in results["models"].items():
        for fmt, why in (model.get("failures") or {}).items():
            lines.append(f"- {name}: building **{fmt}** failed: {why}")
    seen = set()
    for row in results["rows"]:
        if row["status"] == "failed":
            key = (row["model"], row["engine"], row.get("reason"))
            if key not in seen:
                seen.add(key)
                lines.append(f"- {row['model']} / {row['engine']} (T={row['threads']}) failed: "
                             f"{row.get('reason', '')}")
    return lines or ["- none"]


def _load_text(results: dict) -> str:
    """The machine's 1-minute load average during the run (other jobs share the cores)."""
    loads = [s["loadavg_1m"] for s in results["sgemm"] if s.get("loadavg_1m") is not None]
    ends = results.get("loadavg_1m", {})
    if not loads:
        return ""
    return (f"1-min load average {ends.get('start', loads[0]):.2f} at the start, "
            f"{min(loads):.2f}-{max(loads):.2f} after each model, {os.cpu_count()} CPUs "
            "(other jobs may share them: compare engines within one row group, not across "
            "runs).")


def markdown(results: dict, tag: str) -> str:
    settings = results["settings"]
    sgemm = results["sgemm"]
    peak_lines = ["| threads | sgemm GFLOP/s (median over models) | min | max |",
                  "|---:|---:|---:|---:|"]
    for t in settings["threads"]:
        values = sorted(s["gflops"] for s in sgemm if s["threads"] == t and s.get("gflops"))
        if values:
            peak_lines.append(f"| {t} | {values[len(values) // 2]:.1f} | {values[0]:.1f} | "
                              f"{values[-1]:.1f} |")
    engine_settings = {}
    for row in results["rows"]:
        if row.get("settings"):
            version = (row.get("info") or {}).get("version", "")
            engine_settings[row["engine"]] = (row["settings"], version)
    quick = " **(--quick: smoke test, not a measurement)**" if settings.get("quick") else ""
    parts = [
        f"# CPU benchmark {tag}{quick}", "",
        f"Machine: {cpu_name()}, {platform.machine()}, Python {platform.python_version()}. "
        f"Rounds {settings['rounds']}, block {settings['block_s']} s per engine per round, "
        f"threads {settings['threads']}, total {results.get('elapsed_s', 0):.0f} s. "
        f"{_load_text(results)}", "",
        _mace_status(results["rows"]), "",
        "Latency: median / p90 over all timed iterations of the interleaved rounds (each engine "
        "in its own process). GFLOP/s = 2 x (conv + depthwise + dense MACs of our IR graph) / "
        "median. % peak = that / the numpy sgemm GFLOP/s measured in the same rounds. x "
        "onnxruntime, x best peer = median / that engine's median (lower is better; best peer "
        "= fastest of onnxruntime, litert, ncnn, mnn). Cold start = session creation + first "
        "inference (import excluded). rel.err = max|y - ref| / max|ref| against Keras (Keras "
        "models) or onnxruntime without graph optimisations (zoo models). Workers run with "
        "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, OPENBLAS/OMP_NUM_THREADS = T and "
        "OPENBLAS_THREAD_TIMEOUT = 4 (BLAS threads sleep after a call).", "",
        "## mace against onnxruntime and the best peer", "", *_summary_rows(results), "",
        "## All results", "", *_result_rows(results), "",
        "## Where mace spends its time", "",
        "Mean of 3 profiled runs after the timing, at the fewest threads (per-op timers on; "
        "compare the shares, the absolute ms are noisier than the medians above).", "",
        *_profile_rows(results), "",
        "## numpy sgemm peak (2048x2048 fp32, same rounds)", "", *peak_lines, "",
        "## Models", "", *_model_rows(results), "",
        "## Not built, not run, failed", "", *_problems(results), "",
        "## Engine settings", "",
        *[f"- **{e}** ({v}): {s}" for e, (s, v) in engine_settings.items()], "",
    ]
    return "\n".join(parts)


def chart(results: dict, path: Path) -> bool:
    """Bars of each engine's latency relative to onnxruntime, per model (log scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FormatStrFormatter
    except ImportError:
        return False
    threads = results["settings"]["threads"]
    models = list(results["models"])
    engines = [e for e in ("mace", *PEERS)
               if any(r["engine"] == e and r.get("x_onnxruntime") for r in results["rows"])]
    if not engines:
        return False
    fig, axes = plt.subplots(len(threads), 1, figsize=(max(8, 1.3 * len(models)),
                                                       3.6 * len(threads)), squeeze=False)
    width = 0.8 / len(engines)
    for ax, t in zip(axes[:, 0], threads, strict=True):
        shown: list[float] = []
        for i, engine in enumerate(engines):
            values = []
            for m in models:
                row = next((r for r in results["rows"] if r["model"] == m
                            and r["engine"] == engine and r["threads"] == t), {})
                values.append(row.get("x_onnxruntime") or 0.0)
            xs = [k + (i - (len(engines) - 1) / 2) * width for k in range(len(models))]
            ax.bar(xs, values, width, label=engine)
            shown += [v for v in values if v > 0]
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        if shown:  # room above the bars for the legend
            ax.set_ylim(min(shown + [1.0]) / 1.3, max(shown + [1.0]) * 2.5)
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_ylabel("latency / onnxruntime")
        ax.set_title(f"{t} thread{'s' if t > 1 else ''} (lower is better)")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=20, ha="right", fontsize=8)
        ax.legend(fontsize=8, ncol=len(engines))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_reports(results: dict, out_dir: Path, tag: str) -> list[Path]:
    """``<out_dir>/<tag>-cpu.json``, ``.md`` and (with matplotlib) ``.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"{tag}-cpu"
    paths = [base.with_suffix(".json"), base.with_suffix(".md")]
    paths[0].write_text(json.dumps(results, indent=1, default=str))
    paths[1].write_text(markdown(results, tag))
    if chart(results, base.with_suffix(".png")):
        paths.append(base.with_suffix(".png"))
    return paths
