"""Eight processes share one budget through a real Redis; spend must never pass the limit."""

from __future__ import annotations

import multiprocessing
import queue

import pytest
from usage_helpers import make_request, make_target
from usage_race_worker import BUDGETS, LIMIT_TOKENS, spend_until_blocked

from mesh_agents.settings import MeshSettings
from mesh_agents.usage import UsageSettings, UsageTracker

PROCESSES = 8


@pytest.mark.slow
@pytest.mark.redis
def test_eight_processes_never_overspend(redis_url):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=spend_until_blocked, args=(redis_url, seed, barrier, results))
        for seed in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    collected = []
    try:
        for _ in workers:
            collected.append(results.get(timeout=120))
    except queue.Empty:
        pytest.fail(f"only {len(collected)} of {PROCESSES} workers reported within 120 s")
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=10)

    total_spent = sum(spent for _, _, spent, _ in collected)
    largest_hold = max(hold for *_, hold in collected)
    assert all(calls > 0 for _, calls, _, _ in collected), "every worker should get calls through"
    assert total_spent <= LIMIT_TOKENS + largest_hold
    # Every worker stopped only when the budget had no room for one more call.
    assert total_spent > LIMIT_TOKENS - largest_hold

    # The store's counters and the ledger agree with what the workers spent.
    tracker = UsageTracker(MeshSettings(redis_url=redis_url, usage=UsageSettings.model_validate({"budgets": BUDGETS})))
    [window] = tracker.remaining(make_request(), make_target())
    assert window["tokens"] == total_spent
    assert window["held_tokens"] == 0
    [row] = tracker.report(by="tenant")
    assert row["calls"] == sum(calls for _, calls, _, _ in collected)
    assert row["input_tokens"] + row["output_tokens"] == total_spent
    assert row["blocked"] == PROCESSES
