#!/usr/bin/env bash
# One command from a fresh clone: create the environment, lint, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check seg_pipeline seg_pipeline_tests benchmarks scripts
.venv/bin/python -m pytest "$@"
