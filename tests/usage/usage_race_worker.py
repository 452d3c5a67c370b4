"""The worker of the race test, kept in its own module so spawned processes import little.

The target is a plain namespace with the fields the tracker reads, because importing
LangChain's chat-model classes costs each spawned process about a second.
"""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from mesh_agents.errors import BudgetExceeded
from mesh_agents.settings import MeshSettings
from mesh_agents.types import MeshRequest, ModelParams
from mesh_agents.usage import UsageSettings, UsageTracker

LIMIT_TOKENS = 24_000
BUDGETS = [{"name": "shared", "per": "tenant", "window": "total", "max_tokens": LIMIT_TOKENS}]


def spend_until_blocked(redis_url: str, seed: int, barrier: Any, results: Any) -> None:
    """Make calls against the shared budget until it blocks; report calls, tokens spent and the largest hold."""
    tracker = UsageTracker(MeshSettings(redis_url=redis_url, usage=UsageSettings.model_validate({"budgets": BUDGETS})))
    target: Any = SimpleNamespace(name="gpt-4o-mini", model_name="gpt-4o-mini", provider="openai")
    rng = random.Random(seed)
    tracker.count_tokens("load the tokenizer before the start")
    calls, spent, largest_hold = 0, 0, 0
    barrier.wait(timeout=60)
    while True:
        max_tokens = rng.randint(50, 150)
        request = MeshRequest(
            messages=[HumanMessage(content="What is the refund policy for annual plans?")],
            tenant="acme",
            user=f"worker-{seed}",
            params=ModelParams(max_tokens=max_tokens),
        )
        try:
            reservation = tracker.reserve(request, target)
        except BudgetExceeded:
            break
        largest_hold = max(largest_hold, reservation.tokens)
        # Use between half of the reservation and all of it, as real answers do.
        output = rng.randint(max_tokens // 2, max_tokens)
        usage = {"input_tokens": reservation.prompt_tokens, "output_tokens": output}
        usage["total_tokens"] = reservation.prompt_tokens + output
        tracker.settle(reservation, request, target, AIMessage(content="ok", usage_metadata=usage))
        calls += 1
        spent += usage["total_tokens"]
    results.put((seed, calls, spent, largest_hold))
