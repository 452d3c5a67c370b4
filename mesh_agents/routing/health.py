"""Target health: latency and error EWMAs, calls in flight, and a circuit breaker.

The breaker follows the usual three states. *Closed* lets every call through and
opens after ``failure_threshold`` consecutive failures, or once the error-rate EWMA
reaches ``error_rate_threshold`` over at least ``min_calls`` calls. *Open* rejects
calls for ``cooldown_s``. The first call after the cooldown becomes the single
*half-open* probe: its success closes the breaker, its failure opens it again. A
probe that never reports (its process died) frees the slot after ``probe_timeout_s``.

The transitions are pure functions over ``HealthRecord`` so the memory store here
and the Redis store (``routing.redis``) share one semantics; each store only makes
the read-modify-write atomic in its own way.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Protocol, runtime_checkable

from mesh_agents.routing.base import BreakerState, HealthSnapshot
from mesh_agents.routing.schema import HealthSettings

__all__ = [
    "HealthRecord",
    "HealthStore",
    "MemoryHealthStore",
    "acquire",
    "apply_outcome",
    "is_available",
]


@dataclass(frozen=True)
class HealthRecord:
    """Stored health of one target; times are Unix seconds from the store's clock.

    Attributes:
        state: Breaker state.
        latency_ewma_s: Latency EWMA of successful calls, seconds; 0 with ``latency_samples`` 0.
        latency_samples: Successful calls measured.
        error_rate: Error EWMA, 0 to 1.
        calls: Calls recorded since the breaker last closed.
        consecutive_failures: Failures since the last success.
        open_until: When an open breaker allows a probe.
        probe_until: When a granted half-open probe stops blocking other probes.
        opened: How many times the breaker has opened, for reports.
    """

    state: BreakerState = BreakerState.CLOSED
    latency_ewma_s: float = 0.0
    latency_samples: int = 0
    error_rate: float = 0.0
    calls: int = 0
    consecutive_failures: int = 0
    open_until: float = 0.0
    probe_until: float = 0.0
    opened: int = 0

    def to_fields(self) -> dict[str, str]:
        """Return the record as flat strings, the form a Redis hash stores."""
        return {name: str(value) for name, value in asdict(self).items()}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> HealthRecord:
        """Build a record from ``to_fields`` output; missing fields take their defaults."""
        values: dict[str, object] = {}
        for item in fields(cls):
            if item.name not in raw:
                continue
            text = raw[item.name]
            if item.name == "state":
                values[item.name] = BreakerState(text)
            elif item.name in ("latency_samples", "calls", "consecutive_failures", "opened"):
                values[item.name] = int(text)
            else:
                values[item.name] = float(text)
        return cls(**values)  # type: ignore[arg-type]

    def snapshot(self, now: float, in_flight: int) -> HealthSnapshot:
        return HealthSnapshot(
            state=self.state,
            available=is_available(self, now),
            latency_ewma_s=self.latency_ewma_s if self.latency_samples else None,
            error_rate=self.error_rate,
            calls=self.calls,
            in_flight=in_flight,
        )


def is_available(record: HealthRecord, now: float) -> bool:
    """Whether a call may go to the target now, without claiming the probe."""
    if record.state is BreakerState.CLOSED:
        return True
    if record.state is BreakerState.OPEN:
        return now >= record.open_until
    return now >= record.probe_until


def acquire(record: HealthRecord, now: float, settings: HealthSettings) -> tuple[bool, bool, HealthRecord]:
    """Ask the breaker for one call.

    Returns:
        ``(allowed, is_probe, new_record)``. A call allowed on an open breaker whose
        cooldown is over is the half-open probe; no other call passes until it reports
        or its lease of ``probe_timeout_s`` runs out.
    """
    if record.state is BreakerState.CLOSED:
        return True, False, record
    if not is_available(record, now):
        return False, False, record
    probing = replace(record, state=BreakerState.HALF_OPEN, probe_until=now + settings.probe_timeout_s)
    return True, True, probing


def apply_outcome(
    record: HealthRecord,
    *,
    ok: bool,
    latency_s: float,
    counts_against_health: bool,
    is_probe: bool,
    now: float,
    settings: HealthSettings,
) -> HealthRecord:
    """Fold one call's outcome into the record and move the breaker.

    ``counts_against_health`` is False for failures that say nothing about the target
    (a malformed request rejected with a 400); such a failure leaves the record as is.
    Results of calls sent before the breaker opened update the EWMAs but move the
    breaker only while it is closed; only the probe decides a half-open breaker.
    """
    if not ok and not counts_against_health:
        # A probe rejected for its own request frees the slot for the next probe.
        if is_probe and record.state is BreakerState.HALF_OPEN:
            return replace(record, probe_until=now)
        return record
    alpha = settings.ewma_alpha
    error_rate = record.error_rate + alpha * ((0.0 if ok else 1.0) - record.error_rate)
    latency, samples = record.latency_ewma_s, record.latency_samples
    if ok:
        latency = latency_s if samples == 0 else latency + alpha * (latency_s - latency)
        samples += 1
    updated = replace(
        record,
        latency_ewma_s=latency,
        latency_samples=samples,
        error_rate=error_rate,
        calls=record.calls + 1,
        consecutive_failures=0 if ok else record.consecutive_failures + 1,
    )

    if is_probe and record.state is BreakerState.HALF_OPEN:
        if ok:
            return replace(updated, state=BreakerState.CLOSED, error_rate=0.0, calls=0, probe_until=0.0)
        return _open(updated, now, settings)
    if record.state is not BreakerState.CLOSED or ok:
        return updated
    tripped_by_streak = updated.consecutive_failures >= settings.failure_threshold
    tripped_by_rate = updated.calls >= settings.min_calls and updated.error_rate >= settings.error_rate_threshold
    return _open(updated, now, settings) if tripped_by_streak or tripped_by_rate else updated


def _open(record: HealthRecord, now: float, settings: HealthSettings) -> HealthRecord:
    return replace(
        record,
        state=BreakerState.OPEN,
        open_until=now + settings.cooldown_s,
        probe_until=0.0,
        opened=record.opened + 1,
    )


@runtime_checkable
class HealthStore(Protocol):
    """Where target health lives: this process (memory) or shared by many (Redis)."""

    def snapshot(self, targets: Sequence[str], now: float) -> dict[str, HealthSnapshot]:
        """Return the health of each target; unknown targets are healthy."""
        ...

    def acquire(self, target: str, attempt_id: str, now: float) -> tuple[bool, bool]:
        """Ask the breaker for a call and count it in flight; returns ``(allowed, is_probe)``."""
        ...

    def record(
        self,
        target: str,
        attempt_id: str,
        *,
        ok: bool,
        latency_s: float,
        counts_against_health: bool,
        is_probe: bool,
        now: float,
    ) -> HealthRecord:
        """Fold a call's outcome in, stop counting it in flight, and return the new record."""
        ...

    def record_of(self, target: str) -> HealthRecord:
        """Return the stored record of one target, for reports and tests."""
        ...


class MemoryHealthStore:
    """Health kept in this process, under one lock."""

    def __init__(self, settings: HealthSettings | None = None) -> None:
        self.settings = settings or HealthSettings()
        self._records: dict[str, HealthRecord] = {}
        self._in_flight: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def snapshot(self, targets: Sequence[str], now: float) -> dict[str, HealthSnapshot]:
        with self._lock:
            return {
                name: self._records.get(name, HealthRecord()).snapshot(now, self._count_in_flight(name, now))
                for name in targets
            }

    def acquire(self, target: str, attempt_id: str, now: float) -> tuple[bool, bool]:
        with self._lock:
            allowed, is_probe, record = acquire(self._records.get(target, HealthRecord()), now, self.settings)
            self._records[target] = record
            if allowed:
                self._in_flight.setdefault(target, {})[attempt_id] = now + self.settings.in_flight_ttl_s
            return allowed, is_probe

    def record(
        self,
        target: str,
        attempt_id: str,
        *,
        ok: bool,
        latency_s: float,
        counts_against_health: bool,
        is_probe: bool,
        now: float,
    ) -> HealthRecord:
        with self._lock:
            self._in_flight.get(target, {}).pop(attempt_id, None)
            record = self._records[target] = apply_outcome(
                self._records.get(target, HealthRecord()),
                ok=ok,
                latency_s=latency_s,
                counts_against_health=counts_against_health,
                is_probe=is_probe,
                now=now,
                settings=self.settings,
            )
            return record

    def record_of(self, target: str) -> HealthRecord:
        with self._lock:
            return self._records.get(target, HealthRecord())

    def _count_in_flight(self, target: str, now: float) -> int:
        calls = self._in_flight.get(target)
        if not calls:
            return 0
        for attempt_id in [key for key, expires in calls.items() if expires <= now]:
            del calls[attempt_id]
        return len(calls)
