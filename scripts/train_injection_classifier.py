"""Train the injection classifier head shipped in mesh_agents/guardrails/data/.

Usage: python scripts/train_injection_classifier.py tests/data/guardrails/dev.jsonl [--out PATH] [-C 4.0]
"""

import sys

from mesh_agents.guardrails.train import main

if __name__ == "__main__":
    sys.exit(main())
