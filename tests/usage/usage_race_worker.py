"""The worker of the race test, kept in its own module so that worker processes import little.

The target is a plain namespace with the fields the tracker reads, because importing
LangChain's chat-model classes costs each process about a second. The test preloads
the imports below in a forkserver, so they are paid once, not once per worker.
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
BARRIER_TIMEOUT_S = 60


def _request(seed: int, rng: random.Random) -> MeshRequest:
    return MeshRequest(
        messages=[HumanMessage(content="What is the refund policy for annual plans?")],
        tenant="acme",
        user=f"worker-{seed}",
        params=ModelParams(max_tokens=rng.randint(50, 150)),
    )


def spend_until_blocked(redis_url: str, seed: int, barrier: Any, results: Any) -> None:
    """Make calls against the shared budget until it blocks, and report what this worker did.

    Every worker first takes one reservation and waits at the barrier until all of them
    hold one, so the store sees eight concurrent holds whatever the scheduling; worker 0
    then reads the held tokens. After that the workers race freely until the budget
    blocks. Reports ``(seed, calls, tokens spent, largest hold, first hold, held tokens
    seen by worker 0 or None)``.
    """
    tracker = UsageTracker(MeshSettings(redis_url=redis_url, usage=UsageSettings.model_validate({"budgets": BUDGETS})))
    target: Any = SimpleNamespace(name="gpt-4o-mini", model_name="gpt-4o-mini", provider="openai")
    rng = random.Random(seed)
    tracker.count_tokens("load the tokenizer before the start")
    barrier.wait(timeout=BARRIER_TIMEOUT_S)

    request = _request(seed, rng)
    reservation = tracker.reserve(request, target)
    first_hold = reservation.tokens
    barrier.wait(timeout=BARRIER_TIMEOUT_S)
    held_seen = tracker.remaining(request, target)[0]["held_tokens"] if seed == 0 else None
    barrier.wait(timeout=BARRIER_TIMEOUT_S)

    calls, spent, largest_hold = 0, 0, first_hold
    while True:
        max_tokens = request.params.max_tokens or 0
        # Use between half of the reservation and all of it, as real answers do.
        output = rng.randint(max_tokens // 2, max_tokens)
        usage = {"input_tokens": reservation.prompt_tokens, "output_tokens": output}
        usage["total_tokens"] = reservation.prompt_tokens + output
        tracker.settle(reservation, request, target, AIMessage(content="ok", usage_metadata=usage))
        calls += 1
        spent += usage["total_tokens"]
        request = _request(seed, rng)
        try:
            reservation = tracker.reserve(request, target)
        except BudgetExceeded:
            break
        largest_hold = max(largest_hold, reservation.tokens)
    results.put((seed, calls, spent, largest_hold, first_hold, held_seen))
