#!/usr/bin/env bash
# Create .venv and install mesh-agents with every extra and the dev tools.
# Idempotent: a second run only reinstalls when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
stamp=.venv/.mesh-agents-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    exit 0
fi
.venv/bin/python -m pip install -q --upgrade pip
# Install a CPU build of torch before the gliner extra asks for torch, because a bare
# "torch" requirement on Linux resolves to a CUDA build of several GB. Set
# MESH_TORCH_SPEC (for example "torch") to install another build.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install -q "${MESH_TORCH_SPEC:-torch==2.13.0}"
fi
.venv/bin/python -m pip install -q -e ".[all,dev]"
echo "$wanted" > "$stamp"
