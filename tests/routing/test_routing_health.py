"""Circuit breaker and EWMAs, on the memory store and on the real Redis."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from routing_support import ManualClock

from mesh_agents.routing import BreakerState, HealthStore, MemoryHealthStore
from mesh_agents.routing.schema import HealthSettings

SETTINGS = HealthSettings(
    ewma_alpha=0.5, failure_threshold=3, error_rate_threshold=0.6, min_calls=6, cooldown_s=30.0, probe_timeout_s=10.0
)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[HealthStore]:
    if request.param == "memory":
        yield MemoryHealthStore(SETTINGS)
        return
    from mesh_agents.routing.redis import RedisHealthStore

    url = request.getfixturevalue("redis_url")
    yield RedisHealthStore(url, SETTINGS)


def _call(store: HealthStore, clock: ManualClock, ok: bool, *, counts: bool = True, attempt: str = "x") -> bool:
    allowed, is_probe = store.acquire("t", attempt, clock())
    if allowed:
        store.record("t", attempt, ok=ok, latency_s=0.1, counts_against_health=counts, is_probe=is_probe, now=clock())
    return allowed


def test_breaker_opens_after_consecutive_failures(store: HealthStore, clock: ManualClock) -> None:
    for _ in range(2):
        assert _call(store, clock, ok=False)
    assert store.record_of("t").state is BreakerState.CLOSED
    assert _call(store, clock, ok=False)
    assert store.record_of("t").state is BreakerState.OPEN
    assert _call(store, clock, ok=True) is False
    assert store.snapshot(["t"], clock())["t"].available is False


def test_open_breaker_lets_one_probe_after_cooldown(store: HealthStore, clock: ManualClock) -> None:
    for _ in range(3):
        _call(store, clock, ok=False)
    clock.advance(29.9)
    assert store.acquire("t", "early", clock()) == (False, False)
    clock.advance(0.2)
    assert store.acquire("t", "probe", clock()) == (True, True)
    assert store.record_of("t").state is BreakerState.HALF_OPEN
    assert store.acquire("t", "second", clock()) == (False, False)
    store.record("t", "probe", ok=True, latency_s=0.1, counts_against_health=True, is_probe=True, now=clock())
    record = store.record_of("t")
    assert record.state is BreakerState.CLOSED
    assert record.error_rate == 0.0
    assert store.acquire("t", "after", clock()) == (True, False)


def test_failed_probe_reopens_for_another_cooldown(store: HealthStore, clock: ManualClock) -> None:
    for _ in range(3):
        _call(store, clock, ok=False)
    clock.advance(31)
    assert store.acquire("t", "probe", clock()) == (True, True)
    store.record("t", "probe", ok=False, latency_s=1.0, counts_against_health=True, is_probe=True, now=clock())
    record = store.record_of("t")
    assert record.state is BreakerState.OPEN
    assert record.opened == 2
    assert record.open_until == pytest.approx(clock() + 30.0)


def test_unanswered_probe_frees_slot_after_probe_timeout(store: HealthStore, clock: ManualClock) -> None:
    for _ in range(3):
        _call(store, clock, ok=False)
    clock.advance(31)
    assert store.acquire("t", "lost-probe", clock()) == (True, True)
    clock.advance(9)
    assert store.acquire("t", "p2", clock()) == (False, False)
    clock.advance(2)
    assert store.acquire("t", "p2", clock()) == (True, True)


def test_error_rate_opens_breaker_without_streak(store: HealthStore, clock: ManualClock) -> None:
    # Alternating failures never reach 3 in a row, but the error EWMA passes 0.6 after enough calls.
    outcomes = [False, False, True, False, False, True, False, False]
    for ok in outcomes:
        _call(store, clock, ok=ok)
        if store.record_of("t").state is BreakerState.OPEN:
            break
    record = store.record_of("t")
    assert record.state is BreakerState.OPEN
    assert record.calls >= SETTINGS.min_calls


def test_client_errors_do_not_count(store: HealthStore, clock: ManualClock) -> None:
    for _ in range(10):
        _call(store, clock, ok=False, counts=False)
    record = store.record_of("t")
    assert record.state is BreakerState.CLOSED
    assert record.calls == 0


def test_latency_ewma_uses_successes_only(store: HealthStore, clock: ManualClock) -> None:
    for latency, ok in [(1.0, True), (9.0, False), (3.0, True)]:
        store.acquire("t", "a", clock())
        store.record("t", "a", ok=ok, latency_s=latency, counts_against_health=True, is_probe=False, now=clock())
    snapshot = store.snapshot(["t"], clock())["t"]
    assert snapshot.latency_ewma_s == pytest.approx(2.0)
    assert 0 < snapshot.error_rate < 1


def test_in_flight_expires_when_never_reported(store: HealthStore, clock: ManualClock) -> None:
    store.acquire("t", "lost", clock())
    store.acquire("t", "live", clock())
    assert store.snapshot(["t"], clock())["t"].in_flight == 2
    clock.advance(SETTINGS.in_flight_ttl_s + 1)
    assert store.snapshot(["t"], clock())["t"].in_flight == 0


def test_unknown_target_is_healthy(store: HealthStore, clock: ManualClock) -> None:
    snapshot = store.snapshot(["never-seen"], clock())["never-seen"]
    assert snapshot.state is BreakerState.CLOSED
    assert snapshot.available is True
    assert snapshot.latency_ewma_s is None


@pytest.mark.redis
def test_redis_breaker_is_shared_with_another_process(redis_url: str, clock: ManualClock) -> None:
    """A breaker opened by a separate Python process is open here too."""
    script = textwrap.dedent(
        f"""
        from mesh_agents.routing.redis import RedisHealthStore
        from mesh_agents.routing.schema import HealthSettings
        store = RedisHealthStore({redis_url!r}, HealthSettings(failure_threshold=3, cooldown_s=30.0))
        for number in range(3):
            store.acquire("shared", f"other-{{number}}", {clock()!r})
            store.record("shared", f"other-{{number}}", ok=False, latency_s=0.5,
                         counts_against_health=True, is_probe=False, now={clock()!r})
        """
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script], cwd=root, check=True, timeout=60)

    from mesh_agents.routing.redis import RedisHealthStore

    local_store = RedisHealthStore(redis_url, HealthSettings(failure_threshold=3, cooldown_s=30.0))
    snapshot = local_store.snapshot(["shared"], clock())["shared"]
    assert snapshot.state is BreakerState.OPEN
    assert snapshot.available is False
    assert local_store.acquire("shared", "mine", clock()) == (False, False)


@pytest.mark.redis
def test_redis_health_fails_open_when_unreachable(clock: ManualClock) -> None:
    from mesh_agents.routing.redis import RedisHealthStore

    # Port 1 on 127.0.0.1 has no server; the store must let calls through.
    store = RedisHealthStore("redis://127.0.0.1:1/0", SETTINGS)
    assert store.acquire("t", "a", clock()) == (True, False)
    assert store.snapshot(["t"], clock())["t"].available is True
