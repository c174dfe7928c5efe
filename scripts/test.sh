#!/usr/bin/env bash
# Set up (see setup.sh) and run the whole test suite, the real embedded base included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# Two workers, each torch job on its share of the cores; tests sharing an expensive fixture stay
# on one worker (tests/worker_groups.py). DLM_TEST_WORKERS=0 runs everything in one process.
exec .venv/bin/python -m pytest -q -n "${DLM_TEST_WORKERS:-2}" --dist loadscope "$@"
