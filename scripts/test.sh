#!/usr/bin/env bash
# Runs the test suite in .venv (setting it up first if needed). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --deps-only
VENV=${MACE_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
# TensorFlow and PoCL's OpenCL compiler cannot share a process (TensorFlow's LLVM symbols
# break PoCL's), so the TensorFlow/TFLite frontend tests run in a process of their own.
HEAVY_TF_TESTS="tests/test_tf_frontend.py tests/test_tflite_frontend.py tests/test_tflite_int8.py"
ignore=""
for t in $HEAVY_TF_TESTS; do ignore="$ignore --ignore=$t"; done

status=0
run_pytest() {
  set +e
  "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
    rc=1
  fi
  [ "$rc" -eq 0 ] || status=$rc
}
if [ "$#" -gt 0 ]; then
  run_pytest "$@"             # explicit arguments: one run, as given
else
  run_pytest $ignore
  run_pytest $HEAVY_TF_TESTS
fi
exit "$status"
