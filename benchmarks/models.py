#!/usr/bin/env python3
"""Builds the benchmark networks once into a cache folder (default ``benchmarks/.cache``).

    benchmarks/.venv/bin/python benchmarks/models.py [--models a,b] [--force]

Two kinds of model:

* the Keras networks of :data:`export.KERAS_MODELS` (random weights, fixed seed), exported
  to ONNX, TFLite fp32, ncnn and MNN (needs the benchmark venv: ``benchmarks/setup.sh``);
* the zoo models of ``mace_core.catalog`` (their own ONNX files, for mace and onnxruntime).

Each model gets ``<cache>/<name>/manifest.json`` naming its files, the fixed inputs
(``feeds.npz``) and reference outputs (``reference.npz``: Keras for the Keras networks,
onnxruntime without graph optimisations for the zoo), what failed to build and why, and the
MAC count taken from our IR graph. Peer formats are cached; the mace model (``mace/*.pb``)
is converted again on every build, since the converter is part of what is measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
sys.path.insert(0, str(HERE))

from export import KERAS_MODELS, SEED, export_keras, onnx_outputs  # noqa: E402

MANIFEST_VERSION = 2
PEER_FORMATS = ("onnx", "tflite", "ncnn_param", "mnn")


def zoo_names() -> list[str]:
    """The catalog's ONNX models (its TFLite / TensorFlow entries are not benchmarked)."""
    from mace_core.catalog import CATALOG

    return sorted(n for n, e in CATALOG.items() if getattr(e, "format", "onnx") == "onnx")


def all_model_names() -> list[str]:
    """Every model the harness knows: the Keras networks, then the zoo."""
    return list(KERAS_MODELS) + zoo_names()


def _log(message: str) -> None:
    print(f"models: {message}", file=sys.stderr, flush=True)


# -- MACs from our IR ----------------------------------------------------------------------
def count_macs(graph) -> dict[str, int]:
    """Multiply-accumulates of the conv, depthwise and dense (Gemm/MatMul) nodes of a
    shape-inferred mace graph, by kind."""
    macs = {"conv": 0, "depthwise": 0, "dense": 0}
    for node in graph.nodes:
        if node.domain:
            continue
        if node.op_type in ("Conv", "ConvTranspose"):
            w = graph.desc(node.inputs[1]).shape
            if node.op_type == "Conv":
                base = int(np.prod(graph.desc(node.outputs[0]).shape))
            else:
                base = int(np.prod(graph.desc(node.inputs[0]).shape))
            group = int(node.attrs.get("group", 1))
            kind = "depthwise" if group > 1 and w[1] == 1 else "conv"
            macs[kind] += base * int(np.prod(w[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            a = graph.desc(node.inputs[0]).shape
            out = graph.desc(node.outputs[0]).shape
            if node.op_type == "Gemm":
                k = a[0] if node.attrs.get("transA", 0) else a[1]
            else:
                k = a[-1]
            macs["dense"] += int(np.prod(out)) * int(k)
    return macs


def _frozen_inputs(info: dict) -> dict[str, np.ndarray]:
    """Inputs a zoo entry freezes at conversion (e.g. silero-vad's sample rate ``sr``)."""
    if info.get("source") != "zoo":
        return {}
    from mace_core.catalog import CATALOG

    entry = CATALOG[info["name"]]
    return entry.frozen_values() if hasattr(entry, "frozen_values") else {}


def convert_mace(info: dict, outdir: Path) -> None:
    """Convert the model's ONNX with our converter into ``outdir/mace``; records the pb, the
    MACs and op counts of the optimised IR (or the failure)."""
    from mace_core.cli.convert import convert_file

    onnx_path = outdir / info["files"]["onnx"]
    target = outdir / "mace"
    shutil.rmtree(target, ignore_errors=True)
    frozen = _frozen_inputs(info)
    shapes = {k: tuple(v) for k, v in info["inputs"].items() if k not in frozen}
    extra = {"input_values": frozen} if frozen else {}
    start = time.perf_counter()
    try:
        paths, graph = convert_file(onnx_path, target, input_shapes=shapes, name="model",
                                    **extra)
    except Exception as exc:  # the table says why mace has no row
        info["failures"]["mace"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        info["files"].pop("mace_pb", None)
        from mace_core.pipeline import import_model
        from mace_core.registry import default_registry
        from mace_core.specs import ConvertOptions

        try:  # still count MACs from the un-optimised import when only a pass failed
            graph = import_model(onnx_path, ConvertOptions(input_shapes=shapes),
                                 default_registry())
            info["macs"] = count_macs(graph)
        except Exception:
            info.setdefault("macs", None)
        return
    info["failures"].pop("mace", None)
    info["files"]["mace_pb"] = str(Path(paths.pb).relative_to(outdir))
    info["macs"] = count_macs(graph)
    info["mace_ops"] = graph.op_types()
    info["mace_convert_s"] = round(time.perf_counter() - start, 2)


# -- zoo -----------------------------------------------------------------------------------
def build_zoo(name: str, outdir: Path) -> dict:
    """Fetch a catalog model's ONNX file and compute its reference outputs."""
    from mace_core.catalog import CATALOG
    from mace_core.fetch import fetch

    entry = CATALOG[name]
    info: dict = {"source": "zoo", "description": entry.description,
                  "inputs": {k: list(v) for k, v in entry.input_shapes.items()},
                  "files": {}, "failures": {}}
    source = fetch(entry, log=_log)
    shutil.copyfile(source, outdir / "model.onnx")
    info["files"]["onnx"] = "model.onnx"
    feeds = entry.random_inputs(seed=SEED)
    np.savez(outdir / "feeds.npz", **feeds)
    try:
        outputs = onnx_outputs(outdir / "model.onnx", feeds)
        np.savez(outdir / "reference.npz", **{f"out{i}": y for i, y in enumerate(outputs)})
        info["reference_from"] = "onnxruntime (no graph optimisations)"
    except Exception as exc:
        info["failures"]["reference"] = f"{type(exc).__name__}: {exc}"
    return info


# -- orchestration -------------------------------------------------------------------------
def manifest_path(cache: Path, name: str) -> Path:
    return cache / name / "manifest.json"


def load_manifest(cache: Path, name: str) -> dict:
    """The manifest written by :func:`build`; raises FileNotFoundError if not built."""
    info = json.loads(manifest_path(cache, name).read_text())
    info["dir"] = str(cache / name)
    return info


def _cached(cache: Path, name: str) -> dict | None:
    path = manifest_path(cache, name)
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    if info.get("version") != MANIFEST_VERSION:
        return None
    if info["source"] == "keras" and "tensorflow" in str(info.get("failures")):
        return None  # built where tensorflow was missing: try again
    return info


def build(name: str, cache: Path = DEFAULT_CACHE, *, force: bool = False,
          mace: bool = True) -> dict:
    """Build (or reuse) ``name``'s peer formats, convert it for mace; returns the manifest."""
    outdir = cache / name
    info = None if force else _cached(cache, name)
    if info is None:
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir(parents=True)
        start = time.perf_counter()
        if name in KERAS_MODELS:
            try:
                import tensorflow  # noqa: F401
            except ImportError as exc:
                info = {"source": "keras", "files": {}, "inputs": {},
                        "failures": {"all": f"tensorflow not importable ({exc}); "
                                     "run benchmarks/setup.sh and use benchmarks/.venv"}}
            else:
                info = export_keras(name, outdir, _log)
        else:
            info = build_zoo(name, outdir)
        info.update(name=name, version=MANIFEST_VERSION,
                    build_s=round(time.perf_counter() - start, 1))
    if "onnx" in info["files"] and "onnx_ops" not in info:
        try:
            import onnx
            from onnx_cleanup import op_counts

            info["onnx_ops"] = op_counts(onnx.load(str(outdir / info["files"]["onnx"]),
                                                   load_external_data=False))
        except ImportError:
            pass
    if mace and "onnx" in info["files"]:
        _log(f"{name}: mace convert")
        convert_mace(info, outdir)
    manifest_path(cache, name).write_text(json.dumps(info, indent=1, sort_keys=True))
    info["dir"] = str(outdir)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="all",
                        help=f"comma-separated names or 'all' ({', '.join(all_model_names())})")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--force", action="store_true", help="rebuild cached peer formats")
    parser.add_argument("--no-mace", action="store_true", help="skip our converter")
    args = parser.parse_args(argv)
    names = all_model_names() if args.models == "all" else args.models.split(",")
    unknown = sorted(set(names) - set(all_model_names()))
    if unknown:
        parser.error(f"unknown models: {', '.join(unknown)}")
    for name in names:
        info = build(name, args.cache_dir, force=args.force, mace=not args.no_mace)
        formats = ", ".join(sorted(info["files"]))
        print(f"{name}: {formats or 'nothing'}", flush=True)
        for fmt, why in info["failures"].items():
            print(f"  failed {fmt}: {why}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
