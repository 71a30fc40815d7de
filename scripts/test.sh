#!/usr/bin/env bash
# Runs the test suite in .venv (setting it up first if needed). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --deps-only
VENV=${MACE_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
