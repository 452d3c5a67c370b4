"""Fault injection: 500 requests through the router's plan loop with a flaky and a hanging target.

The loop that plays the mesh's role lives in ``benchmarks/routing.py``, so the test
and the published figures come from the same code. It runs on a simulated clock, so
nothing sleeps.
"""

from __future__ import annotations

import time

import pytest

from benchmarks.routing import FaultReport, run_fault_injection


@pytest.fixture(scope="module")
def report() -> FaultReport:
    started = time.perf_counter()
    result = run_fault_injection(requests=500, seed=7)
    # Simulated time covers minutes of traffic; the run itself must not sleep.
    assert time.perf_counter() - started < 30
    return result


def test_500_requests_with_faults_all_answered(report: FaultReport) -> None:
    assert report.requests == 500
    assert report.user_visible_errors == 0
    assert sum(report.served.values()) == 500


def test_flaky_target_fails_about_thirty_percent(report: FaultReport) -> None:
    share = report.failures["flaky"] / report.calls["flaky"]
    assert 0.2 < share < 0.45
    assert report.retries > 0
    assert report.fallbacks > 0
    assert report.requests_with_failures > 0


def test_hanging_target_breaker_opens_and_recovers(report: FaultReport) -> None:
    assert report.breaker_opened["slow"] >= 1
    assert report.routed_around_open > 0
    assert report.final_state["slow"] == "closed"
    assert report.served_by_slow_after_outage > 0
    assert report.breaker_opened["steady"] == 0


def test_time_added_stays_bounded(report: FaultReport) -> None:
    # A request that met the hanging target waits at most three 5 s timeouts plus backoff.
    assert max(report.time_added_s) < 3 * 5.0 + 2 * 2.0
    assert report.percentile(0.5) == 0.0


def test_same_seed_gives_same_figures() -> None:
    first = run_fault_injection(requests=200, seed=3)
    second = run_fault_injection(requests=200, seed=3)
    assert first.retries == second.retries
    assert first.time_added_s == second.time_added_s
