#!/usr/bin/env bash
# The test command the README gives; run inside the project's virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python -m pytest "$@"
