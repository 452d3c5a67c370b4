"""Retries with backoff and fallback along the ranked targets, as a state machine without I/O.

``RetryPlan`` decides; the caller (the mesh, a graph node, a test) sleeps, calls the
model and reports back. Errors are classified by the status code and class names that
provider SDKs use (openai, anthropic, httpx, google), read through attributes so no
SDK needs to be installed.
"""

from __future__ import annotations

import enum
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mesh_agents.routing.base import Attempt, BreakerState, RouteDecision, Target
from mesh_agents.routing.health import HealthStore
from mesh_agents.routing.schema import RoutingSettings

__all__ = ["ErrorClass", "ErrorKind", "PlanStats", "RetryPlan", "classify_error"]

logger = logging.getLogger(__name__)


class ErrorKind(enum.StrEnum):
    """What a failed model call says about the target."""

    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    SERVER = "server"
    CONNECTION = "connection"
    AUTH = "auth"
    CLIENT = "client"
    UNKNOWN = "unknown"


_RETRYABLE = frozenset({ErrorKind.RATE_LIMIT, ErrorKind.TIMEOUT, ErrorKind.SERVER, ErrorKind.CONNECTION})


@dataclass(frozen=True)
class ErrorClass:
    """How to treat one error.

    Attributes:
        kind: The error's kind.
        retryable: Whether the same target may succeed on a retry.
        counts_against_health: Whether the failure feeds the target's error rate and
            breaker. A request the provider rejects as malformed does not.
        status_code: HTTP status found on the error, if any.
        retry_after_s: Seconds the provider asked to wait, if it said.
    """

    kind: ErrorKind
    retryable: bool
    counts_against_health: bool
    status_code: int | None = None
    retry_after_s: float | None = None


# Lower-cased fragments of exception class names, checked along the class's MRO.
_NAME_MARKERS: tuple[tuple[ErrorKind, tuple[str, ...]], ...] = (
    (ErrorKind.RATE_LIMIT, ("ratelimit", "toomanyrequests", "resourceexhausted", "throttl", "quotaexceeded")),
    (ErrorKind.TIMEOUT, ("timeout", "timedout", "deadlineexceeded")),
    (ErrorKind.CONNECTION, ("connection", "connecterror", "networkerror", "remoteprotocol", "readerror")),
    (ErrorKind.SERVER, ("internalserver", "serviceunavailable", "overloaded", "servererror", "badgateway")),
    (ErrorKind.AUTH, ("authentication", "permissiondenied", "unauthorized", "forbidden", "notfound")),
    (ErrorKind.CLIENT, ("badrequest", "unprocessable", "invalidrequest", "contextwindow", "contentfilter")),
)


def classify_error(error: BaseException) -> ErrorClass:
    """Classify a model-call error, following ``__cause__`` when the error itself says nothing."""
    seen: set[int] = set()
    current: BaseException | None = error
    retry_after = None
    while current is not None and id(current) not in seen and len(seen) < 4:
        seen.add(id(current))
        retry_after = retry_after if retry_after is not None else _retry_after(current)
        kind, status = _kind_of(current)
        if kind is not None:
            return ErrorClass(
                kind=kind,
                retryable=kind in _RETRYABLE,
                counts_against_health=kind is not ErrorKind.CLIENT,
                status_code=status,
                retry_after_s=retry_after,
            )
        current = current.__cause__
    return ErrorClass(ErrorKind.UNKNOWN, retryable=False, counts_against_health=True, retry_after_s=retry_after)


def _kind_of(error: BaseException) -> tuple[ErrorKind | None, int | None]:
    status = _status_code(error)
    if status is not None:
        return _kind_of_status(status), status
    if isinstance(error, TimeoutError):
        return ErrorKind.TIMEOUT, None
    if isinstance(error, ConnectionError):
        return ErrorKind.CONNECTION, None
    names = [klass.__name__.lower() for klass in type(error).__mro__]
    for kind, markers in _NAME_MARKERS:
        if any(marker in name for name in names for marker in markers):
            return kind, None
    return None, None


def _kind_of_status(status: int) -> ErrorKind:
    if status == 429:
        return ErrorKind.RATE_LIMIT
    if status == 408:
        return ErrorKind.TIMEOUT
    if status >= 500:
        return ErrorKind.SERVER
    if status in (401, 403, 404):
        return ErrorKind.AUTH
    if status == 409:
        # Providers answer 409 to a request that collided with another; anthropic's SDK retries it.
        return ErrorKind.SERVER
    return ErrorKind.CLIENT


def _status_code(error: BaseException) -> int | None:
    for holder in (error, getattr(error, "response", None)):
        if holder is None:
            continue
        for name in ("status_code", "status", "http_status", "code"):
            value = getattr(holder, name, None)
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                return value
    return None


def _retry_after(error: BaseException) -> float | None:
    value: Any = getattr(error, "retry_after", None)
    if value is None:
        headers = getattr(getattr(error, "response", None), "headers", None)
        if headers is not None and hasattr(headers, "get"):
            milliseconds = headers.get("retry-after-ms")
            if milliseconds is not None:
                seconds = _as_float(milliseconds)
                return None if seconds is None else seconds / 1000.0
            value = headers.get("retry-after")
    seconds = _as_float(value)
    return seconds if seconds is not None and seconds >= 0 else None


def _as_float(value: Any) -> float | None:
    # NOTE: an HTTP-date Retry-After is ignored; providers send seconds.
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass
class PlanStats:
    """What one plan did, for reports and tests.

    Attributes:
        attempts: Calls handed out.
        retries: Calls that repeated a target after it failed.
        fallbacks: Moves to another target after the previous one failed or ran out of retries.
        skipped: Targets passed over because their breaker was open.
        backoff_s: Seconds of backoff handed out as ``delay_s``.
        failed_latency_s: Seconds spent in calls that failed.
        errors: ``(target, kind)`` of each failure, in order.
        target: Target that answered, or None.
    """

    attempts: int = 0
    retries: int = 0
    fallbacks: int = 0
    skipped: list[str] = field(default_factory=list)
    backoff_s: float = 0.0
    failed_latency_s: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)
    target: str | None = None

    @property
    def time_added_s(self) -> float:
        """Seconds the failures cost the request: backoff plus time in failed calls."""
        return self.backoff_s + self.failed_latency_s


class RetryPlan:
    """Retry and fallback state for one request (an ``AttemptPlan``).

    Each target in ``decision.ranked`` gets a first call and up to ``max_retries``
    retries for retryable errors, with exponential backoff and jitter; then the plan
    falls back to the next target. Non-retryable errors fall back at once. A target
    whose breaker is open is skipped. Every call is counted in flight in the health
    store until it is reported.

    Args:
        decision: The route decision whose ranking the plan follows.
        targets: Targets by name.
        settings: The tenant's routing settings (retries, backoff, fallbacks, timeout).
        health: Store that holds breakers and EWMAs.
        clock: Returns the current time in Unix seconds; shared with the health store.
        rng: Source of jitter; seed it for reproducible delays.
    """

    def __init__(
        self,
        decision: RouteDecision,
        targets: Mapping[str, Target],
        settings: RoutingSettings,
        health: HealthStore,
        *,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        order = list(decision.ranked)
        if not settings.fallbacks:
            order = order[:1]
        elif settings.max_fallbacks is not None:
            order = order[: settings.max_fallbacks + 1]
        self._order = order
        self._winner = decision.ranked[0] if decision.ranked else None
        self._targets = targets
        self._settings = settings
        self._health = health
        self._clock = clock
        self._rng = rng
        self._id = uuid.uuid4().hex
        self._index = -1
        self._retries_here = 0
        self._pending_delay: float | None = None
        self._outstanding: dict[int, bool] = {}
        self._done = False
        self._tried_any = False
        self.stats = PlanStats()

    def next_attempt(self) -> Attempt | None:
        if self._done:
            return None
        if self._outstanding:
            raise RuntimeError("report the previous attempt with record_success or record_failure first")

        # A retry of the current target, unless its breaker opened in the meantime.
        if self._pending_delay is not None:
            delay, self._pending_delay = self._pending_delay, None
            attempt = self._claim(self._order[self._index], delay)
            if attempt is not None:
                self.stats.retries += 1
                return attempt
            self.stats.skipped.append(self._order[self._index])

        # The next target down the ranking whose breaker lets a call through.
        while self._index + 1 < len(self._order):
            self._index += 1
            self._retries_here = 0
            name = self._order[self._index]
            attempt = self._claim(name, 0.0)
            if attempt is None:
                self.stats.skipped.append(name)
                continue
            if self._tried_any:
                self.stats.fallbacks += 1
            self._tried_any = True
            return attempt
        self._done = True
        return None

    def record_success(self, attempt: Attempt, latency_s: float) -> None:
        is_probe = self._outstanding.pop(attempt.number, False)
        self._health.record(
            attempt.target.name,
            self._attempt_id(attempt),
            ok=True,
            latency_s=latency_s,
            counts_against_health=True,
            is_probe=is_probe,
            now=self._clock(),
        )
        self.stats.target = attempt.target.name
        self._done = True

    def record_failure(self, attempt: Attempt, error: BaseException, latency_s: float) -> None:
        is_probe = self._outstanding.pop(attempt.number, False)
        verdict = classify_error(error)
        name = attempt.target.name
        record = self._health.record(
            name,
            self._attempt_id(attempt),
            ok=False,
            latency_s=latency_s,
            counts_against_health=verdict.counts_against_health,
            is_probe=is_probe,
            now=self._clock(),
        )
        self.stats.errors.append((name, verdict.kind.value))
        self.stats.failed_latency_s += latency_s
        logger.debug("attempt %d on %s failed: %s", attempt.number, name, verdict.kind.value)

        if not verdict.retryable or record.state is not BreakerState.CLOSED:
            return
        if self._retries_here >= self._settings.max_retries:
            return
        delay = self._backoff(self._retries_here, verdict.retry_after_s)
        if delay is None:
            return
        self._retries_here += 1
        self._pending_delay = delay

    def _claim(self, name: str, delay: float) -> Attempt | None:
        number = self.stats.attempts + 1
        allowed, is_probe = self._health.acquire(name, f"{self._id}:{number}", self._clock())
        if not allowed:
            return None
        self.stats.attempts = number
        self.stats.backoff_s += delay
        self._outstanding[number] = is_probe
        return Attempt(
            target=self._targets[name],
            number=number,
            delay_s=delay,
            is_fallback=name != self._winner,
            timeout_s=self._settings.timeout_s,
            retry=self._retries_here,
        )

    def _backoff(self, retry: int, retry_after_s: float | None) -> float | None:
        """Return the delay before retry number ``retry + 1``, or None to fall back instead."""
        settings = self._settings
        ceiling = min(settings.backoff_max_s, settings.backoff_base_s * 2**retry)
        delay = ceiling * (1.0 - settings.jitter * self._rng.random())
        if retry_after_s is not None:
            if retry_after_s > settings.backoff_max_s:
                return None
            delay = max(delay, retry_after_s)
        return delay

    def _attempt_id(self, attempt: Attempt) -> str:
        return f"{self._id}:{attempt.number}"
