"""In-process budget store and ledger: the defaults for one process."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from mesh_agents.usage.base import (
    BudgetDenial,
    BudgetLimit,
    Reservation,
    UsageRecord,
    remaining_from_store,
    to_nano_usd,
)

__all__ = ["MemoryBudgetStore", "MemoryLedger"]


@dataclass
class _Window:
    tokens: int = 0
    cost: int = 0
    requests: int = 0
    held_tokens: int = 0
    held_cost: int = 0
    held_requests: int = 0
    expires_at: float | None = None
    holds: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    """Reservation id -> (tokens, cost in billionths of a dollar, expiry in Unix seconds)."""

    def purge(self, now: float) -> None:
        for reservation_id, (tokens, cost, expires_at) in list(self.holds.items()):
            if expires_at <= now:
                self._unhold(reservation_id, tokens, cost)

    def _unhold(self, reservation_id: str, tokens: int, cost: int) -> None:
        del self.holds[reservation_id]
        self.held_tokens -= tokens
        self.held_cost -= cost
        self.held_requests -= 1

    def drop_hold(self, reservation_id: str) -> None:
        hold = self.holds.get(reservation_id)
        if hold is not None:
            self._unhold(reservation_id, hold[0], hold[1])


class MemoryBudgetStore:
    """Budget windows in a dict behind one lock; shared by the threads of one process only.

    Args:
        clock: Returns the current Unix time in seconds; tests pass their own.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._next_sweep = 0.0

    def reserve(self, reservation: Reservation, limits: Mapping[str, BudgetLimit]) -> BudgetDenial | None:
        cost = to_nano_usd(reservation.cost_usd)
        with self._lock:
            now = self._clock()
            self._sweep(now)
            windows = []
            for key, limit in limits.items():
                window = self._windows.get(key)
                if window is None:
                    window = self._windows[key] = _Window()
                window.expires_at = limit.expires_at
                window.purge(now)
                windows.append(window)

            # Check every window before holding anything, so a denial holds nothing.
            for (key, limit), window in zip(limits.items(), windows, strict=True):
                checks = (
                    ("tokens", limit.tokens, window.tokens, window.held_tokens, reservation.tokens),
                    ("cost", limit.cost_nano_usd, window.cost, window.held_cost, cost),
                    ("requests", limit.requests, window.requests, window.held_requests, 1),
                )
                for dimension, maximum, spent, held, requested in checks:
                    if maximum is not None and spent + held + requested > maximum:
                        return BudgetDenial(key, dimension, maximum, spent, held, requested)  # type: ignore[arg-type]

            room: dict[str, int] = {}
            for limit, window in zip(limits.values(), windows, strict=True):
                window.holds[reservation.id] = (reservation.tokens, cost, reservation.expires_at)
                window.held_tokens += reservation.tokens
                window.held_cost += cost
                window.held_requests += 1
                for dimension, maximum, used in (
                    ("tokens", limit.tokens, window.tokens + window.held_tokens),
                    ("cost", limit.cost_nano_usd, window.cost + window.held_cost),
                    ("requests", limit.requests, window.requests + window.held_requests),
                ):
                    if maximum is not None:
                        room[dimension] = min(room.get(dimension, maximum - used), maximum - used)
        reservation.remaining = remaining_from_store(room)
        return None

    def settle(self, reservation: Reservation, *, tokens: int, cost_usd: float) -> None:
        cost = to_nano_usd(cost_usd)
        with self._lock:
            for key in reservation.budget_keys:
                window = self._windows.get(key)
                if window is None:  # the window ended and was swept
                    continue
                window.drop_hold(reservation.id)
                window.tokens += tokens
                window.cost += cost
                window.requests += 1

    def release(self, reservation: Reservation) -> None:
        with self._lock:
            for key in reservation.budget_keys:
                window = self._windows.get(key)
                if window is not None:
                    window.drop_hold(reservation.id)

    def usage(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        with self._lock:
            now = self._clock()
            result = {}
            for key in keys:
                window = self._windows.get(key) or _Window()
                window.purge(now)
                result[key] = {
                    "tokens": window.tokens,
                    "cost": window.cost,
                    "requests": window.requests,
                    "held_tokens": window.held_tokens,
                    "held_cost": window.held_cost,
                    "held_requests": window.held_requests,
                }
            return result

    def _sweep(self, now: float) -> None:
        """Drop ended windows, at most once a minute, so per-session budgets do not grow forever."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60.0
        for key in [k for k, w in self._windows.items() if w.expires_at is not None and w.expires_at <= now]:
            del self._windows[key]


class MemoryLedger:
    """The newest ``max_records`` usage records of this process."""

    def __init__(self, max_records: int = 1_000_000) -> None:
        self._records: deque[UsageRecord] = deque(maxlen=max_records)
        self._lock = threading.Lock()

    def append(self, record: UsageRecord) -> None:
        with self._lock:
            self._records.append(record)

    def query(self, *, since: float | None = None, tenant: str | None = None) -> list[UsageRecord]:
        with self._lock:
            records = list(self._records)
        return [
            r for r in records if (since is None or r.timestamp >= since) and (tenant is None or r.tenant == tenant)
        ]
