"""Error classification and the retry/fallback plan."""

from __future__ import annotations

import random
from typing import Any

import pytest
from routing_support import ManualClock, fake_model, request

from mesh_agents.routing import ErrorKind, MemoryHealthStore, RetryPlan, RouteDecision, Router, classify_error
from mesh_agents.routing.base import Attempt, BreakerState
from mesh_agents.routing.schema import HealthSettings, RoutingSettings
from mesh_agents.routing.targets import target_from_model
from mesh_agents.settings import MeshSettings


class _Response:
    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.headers = headers or {}


class APIStatusError(Exception):
    """Shaped like openai/anthropic status errors: ``status_code`` and ``response``."""

    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"status {status_code}")
        self.status_code = status_code
        self.response = _Response(status_code, headers)


class HTTPStatusError(Exception):
    """Shaped like httpx.HTTPStatusError: the status lives on ``response`` only."""

    def __init__(self, status_code: int) -> None:
        super().__init__("http error")
        self.response = _Response(status_code)


class APIConnectionError(Exception):
    pass


class APITimeoutError(APIConnectionError):
    pass


class RateLimitError(Exception):
    pass


class ServiceUnavailable(Exception):
    pass


class BadRequestError(Exception):
    pass


class AuthenticationError(Exception):
    pass


class Wrapper(Exception):
    pass


def _wrapped(inner: BaseException) -> Wrapper:
    try:
        raise Wrapper("wrapped") from inner
    except Wrapper as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "kind", "retryable", "counts"),
    [
        (APIStatusError(429), ErrorKind.RATE_LIMIT, True, True),
        (APIStatusError(408), ErrorKind.TIMEOUT, True, True),
        (APIStatusError(500), ErrorKind.SERVER, True, True),
        (APIStatusError(529), ErrorKind.SERVER, True, True),
        (APIStatusError(400), ErrorKind.CLIENT, False, False),
        (APIStatusError(422), ErrorKind.CLIENT, False, False),
        (APIStatusError(401), ErrorKind.AUTH, False, True),
        (HTTPStatusError(503), ErrorKind.SERVER, True, True),
        (HTTPStatusError(404), ErrorKind.AUTH, False, True),
        (TimeoutError(), ErrorKind.TIMEOUT, True, True),
        (ConnectionResetError(), ErrorKind.CONNECTION, True, True),
        (APITimeoutError(), ErrorKind.TIMEOUT, True, True),
        (APIConnectionError(), ErrorKind.CONNECTION, True, True),
        (RateLimitError(), ErrorKind.RATE_LIMIT, True, True),
        (ServiceUnavailable(), ErrorKind.SERVER, True, True),
        (BadRequestError(), ErrorKind.CLIENT, False, False),
        (AuthenticationError(), ErrorKind.AUTH, False, True),
        (ValueError("bug"), ErrorKind.UNKNOWN, False, True),
        (_wrapped(APIStatusError(503)), ErrorKind.SERVER, True, True),
    ],
)
def test_classify_error_table(error: BaseException, kind: ErrorKind, retryable: bool, counts: bool) -> None:
    verdict = classify_error(error)
    assert verdict.kind is kind
    assert verdict.retryable is retryable
    assert verdict.counts_against_health is counts


def test_classify_error_reads_retry_after_headers() -> None:
    assert classify_error(APIStatusError(429, {"retry-after": "2"})).retry_after_s == 2.0
    assert classify_error(APIStatusError(429, {"retry-after-ms": "1500"})).retry_after_s == 1.5
    assert classify_error(APIStatusError(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})).retry_after_s is None


def _plan(names: list[str], clock: ManualClock, health: MemoryHealthStore | None = None, **settings: Any) -> RetryPlan:
    targets = {name: target_from_model(name, fake_model()) for name in names}
    routing = RoutingSettings(**settings)
    return RetryPlan(
        RouteDecision(ranked=list(names)),
        targets,
        routing,
        health or MemoryHealthStore(routing.health),
        clock=clock,
        rng=random.Random(7),
    )


def _next(plan: RetryPlan) -> Attempt:
    attempt = plan.next_attempt()
    assert attempt is not None
    return attempt


def test_retryable_error_retries_with_growing_jittered_backoff(clock: ManualClock) -> None:
    plan = _plan(["a", "b"], clock, max_retries=3, backoff_base_s=0.5, backoff_max_s=10.0, jitter=0.5)
    first = _next(plan)
    assert (first.target.name, first.delay_s, first.retry) == ("a", 0.0, 0)
    delays = []
    for _ in range(3):
        plan.record_failure(first, APIStatusError(503), 0.1)
        first = _next(plan)
        assert first.target.name == "a"
        delays.append(first.delay_s)
    assert 0.25 <= delays[0] <= 0.5
    assert 0.5 <= delays[1] <= 1.0
    assert 1.0 <= delays[2] <= 2.0
    plan.record_failure(first, APIStatusError(503), 0.1)
    fallback = _next(plan)
    assert fallback.target.name == "b"
    assert fallback.is_fallback is True
    assert fallback.delay_s == 0.0
    assert plan.stats.retries == 3
    assert plan.stats.fallbacks == 1


def test_backoff_is_capped_by_backoff_max(clock: ManualClock) -> None:
    tolerant = MemoryHealthStore(HealthSettings(failure_threshold=100, min_calls=100))
    plan = _plan(["a"], clock, health=tolerant, max_retries=6, backoff_base_s=1.0, backoff_max_s=2.0, jitter=0.0)
    attempt = _next(plan)
    delays = []
    for _ in range(6):
        plan.record_failure(attempt, TimeoutError(), 0.0)
        attempt = _next(plan)
        delays.append(attempt.delay_s)
    assert delays == [1.0, 2.0, 2.0, 2.0, 2.0, 2.0]


def test_non_retryable_error_falls_back_without_retry(clock: ManualClock) -> None:
    plan = _plan(["a", "b"], clock)
    attempt = _next(plan)
    plan.record_failure(attempt, APIStatusError(400), 0.2)
    fallback = _next(plan)
    assert fallback.target.name == "b"
    assert plan.stats.retries == 0


def test_retry_after_longer_than_backoff_max_falls_back(clock: ManualClock) -> None:
    plan = _plan(["a", "b"], clock, backoff_max_s=5.0)
    plan.record_failure(_next(plan), APIStatusError(429, {"retry-after": "30"}), 0.0)
    assert _next(plan).target.name == "b"


def test_retry_after_within_limit_sets_the_delay(clock: ManualClock) -> None:
    plan = _plan(["a", "b"], clock, backoff_base_s=0.1, backoff_max_s=5.0)
    plan.record_failure(_next(plan), APIStatusError(429, {"retry-after": "3"}), 0.0)
    retry = _next(plan)
    assert retry.target.name == "a"
    assert retry.delay_s == 3.0


def test_success_ends_the_plan(clock: ManualClock) -> None:
    plan = _plan(["a", "b"], clock)
    attempt = _next(plan)
    plan.record_success(attempt, 0.3)
    assert plan.next_attempt() is None
    assert plan.stats.target == "a"


def test_exhausted_plan_returns_none(clock: ManualClock) -> None:
    plan = _plan(["a", "b"], clock, max_retries=0)
    plan.record_failure(_next(plan), TimeoutError(), 0.0)
    plan.record_failure(_next(plan), TimeoutError(), 0.0)
    assert plan.next_attempt() is None
    assert plan.stats.errors == [("a", "timeout"), ("b", "timeout")]


def test_fallbacks_off_tries_only_the_winner(clock: ManualClock) -> None:
    plan = _plan(["a", "b"], clock, max_retries=0, fallbacks=False)
    plan.record_failure(_next(plan), TimeoutError(), 0.0)
    assert plan.next_attempt() is None


def test_max_fallbacks_limits_targets_tried(clock: ManualClock) -> None:
    plan = _plan(["a", "b", "c"], clock, max_retries=0, max_fallbacks=1)
    plan.record_failure(_next(plan), TimeoutError(), 0.0)
    plan.record_failure(_next(plan), TimeoutError(), 0.0)
    assert plan.next_attempt() is None


def test_open_breaker_target_is_skipped(clock: ManualClock) -> None:
    health = MemoryHealthStore(HealthSettings(failure_threshold=1))
    plan = _plan(["a", "b"], clock, health=health, max_retries=0)
    plan.record_failure(_next(plan), TimeoutError(), 0.0)
    assert health.record_of("a").state is BreakerState.OPEN
    plan.record_success(_next(plan), 0.1)

    later = _plan(["a", "b"], clock, health=health)
    attempt = _next(later)
    assert attempt.target.name == "b"
    assert attempt.is_fallback is True
    assert later.stats.skipped == ["a"]


def test_breaker_opening_mid_request_stops_retries(clock: ManualClock) -> None:
    health = MemoryHealthStore(HealthSettings(failure_threshold=2))
    plan = _plan(["a", "b"], clock, health=health, max_retries=5)
    plan.record_failure(_next(plan), TimeoutError(), 0.0)
    plan.record_failure(_next(plan), TimeoutError(), 0.0)
    assert _next(plan).target.name == "b"
    assert plan.stats.retries == 1


def test_next_attempt_before_reporting_is_an_error(clock: ManualClock) -> None:
    plan = _plan(["a"], clock)
    _next(plan)
    with pytest.raises(RuntimeError, match="record_success or record_failure"):
        plan.next_attempt()


def test_in_flight_counts_until_reported(clock: ManualClock) -> None:
    router = Router(MeshSettings(), targets={"a": fake_model()}, clock=clock)
    plan = router.plan(router.route(request()), request())
    attempt = _next(plan)
    assert router.health.snapshot(["a"], clock())["a"].in_flight == 1
    plan.record_success(attempt, 0.2)
    snapshot = router.health.snapshot(["a"], clock())["a"]
    assert snapshot.in_flight == 0
    assert snapshot.latency_ewma_s == pytest.approx(0.2)


def test_attempt_carries_timeout_from_settings(clock: ManualClock) -> None:
    plan = _plan(["a"], clock, timeout_s=12.5)
    assert _next(plan).timeout_s == 12.5
