#!/usr/bin/env bash
# One command from a fresh clone: create the environment, lint, type-check, then run the tests.
#   bash scripts/test.sh            fast suite: everything but end-to-end, browser, webserver and Spark tests (≤ 3 min)
#   bash scripts/test.sh --all      the whole suite (what CI runs)
# Other arguments pass through to pytest, e.g.  bash scripts/test.sh -k sinks
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check seg_pipeline seg_pipeline_tests benchmarks scripts
.venv/bin/mypy seg_pipeline
if [ "${1:-}" = "--all" ]; then
  shift
  exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python -m pytest -m "not e2e and not browser and not webserver and not spark" "$@"
