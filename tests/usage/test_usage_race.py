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
PRELOAD = ("langchain_core.messages", "mesh_agents.settings", "mesh_agents.usage", "mesh_agents.usage.redis")


@pytest.mark.slow
@pytest.mark.redis
def test_eight_processes_never_overspend(redis_url):
    # Eight spawned interpreters that each import the settings (LangChain, pydantic, numpy)
    # took most of this test's time. A forkserver imports them once and forks every worker
    # from it. Python 3.11's forkserver ignores the test's sys.path, so it preloads the
    # package's modules (found from the repository root) rather than the worker module;
    # if they cannot be imported there, the workers import them themselves, only slower.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
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

    calls = [row[1] for row in collected]
    total_spent = sum(row[2] for row in collected)
    largest_hold = max(row[3] for row in collected)
    [held_seen] = [row[5] for row in collected if row[5] is not None]
    # All eight first reservations were held at once, and every process saw them all.
    assert held_seen == sum(row[4] for row in collected)
    assert all(count > 0 for count in calls)
    # The invariant: concurrent reservations never let spend pass the limit by more than one hold ...
    assert total_spent <= LIMIT_TOKENS + largest_hold
    # ... and every worker stopped only when the budget had no room for one more call.
    assert total_spent > LIMIT_TOKENS - largest_hold

    # The store's counters and the ledger agree with what the workers spent.
    tracker = UsageTracker(MeshSettings(redis_url=redis_url, usage=UsageSettings.model_validate({"budgets": BUDGETS})))
    [window] = tracker.remaining(make_request(), make_target())
    assert window["tokens"] == total_spent
    assert window["held_tokens"] == 0
    [row] = tracker.report(by="tenant")
    assert row["calls"] == sum(calls)
    assert row["input_tokens"] + row["output_tokens"] == total_spent
    assert row["blocked"] == PROCESSES
