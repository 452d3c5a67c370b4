#!/usr/bin/env bash
# Install everything (scripts/setup.sh) and run the demo; arguments go to `mesh-agents demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/mesh-agents demo "$@"
