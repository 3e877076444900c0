#!/usr/bin/env bash
# One command from a fresh clone: create the environment, then run the demo (simulate + every week end to end).
# Extra arguments go to `seg demo`, e.g.  bash scripts/demo.sh --weeks 6 --accounts 1500
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/seg demo "$@"
