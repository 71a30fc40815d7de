#!/usr/bin/env bash
# Make (or update) the benchmark venv benchmarks/.venv: the pinned model builders and peer
# engines from requirements.txt, pnnx without its torch dependency, and our engine
# (mace-core, the ONNX converter and, when it builds, the mace-cpu plugin) installed editable.
# Idempotent: a second run only checks what is installed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install -U pip setuptools wheel cffi
"${PIP[@]}" install -r "$HERE/requirements.txt"
# pnnx's wheel depends on torch (with CUDA); only its binary is needed for ONNX input.
"${PIP[@]}" install --no-deps "pnnx==20261020"
"${PIP[@]}" install -e "$ROOT" -e "$ROOT/converters[onnx]"
if [ -f "$ROOT/plugins/mace_cpu/pyproject.toml" ]; then
    if ! "${PIP[@]}" install --no-build-isolation -e "$ROOT/plugins/mace_cpu"; then
        echo "setup.sh: plugins/mace_cpu did not build; mace runs on the reference device" >&2
    fi
fi
# the pins above win over whatever a later install pulled in
"${PIP[@]}" install "numpy==2.4.6" "protobuf==7.36.2" "onnx==1.23.2" "onnxruntime==1.32.0"
"$VENV/bin/python" - <<'PY'
import importlib
import importlib.util
from pathlib import Path

# MNN.tools is never imported: it runs `pip install` and posts usage data on import.
for name in ["tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai_edge_litert",
             "MNN", "ncnn", "mace_core", "mace_converters", "mace_cpu"]:
    try:
        mod = importlib.import_module(name)
        version = getattr(mod, "__version__", None) or getattr(mod, "version", lambda: "ok")()
        print(f"  {name:<16} {version}")
    except Exception as exc:  # report and go on: the driver skips engines that are missing
        print(f"  {name:<16} MISSING ({type(exc).__name__}: {exc})")
spec = importlib.util.find_spec("pnnx")  # importing pnnx needs torch; only its binary is used
binary = Path(list(spec.submodule_search_locations)[0]) / "pnnx" if spec else None
print(f"  {'pnnx binary':<16} {binary if binary and binary.is_file() else 'MISSING'}")
PY
