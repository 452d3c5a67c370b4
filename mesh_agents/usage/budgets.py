"""Budgets as they apply to one call: window keys and limits, and the error when one has no room."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from mesh_agents.errors import BudgetExceeded
from mesh_agents.usage.base import BudgetDenial, BudgetLimit, to_nano_usd
from mesh_agents.usage.schema import BudgetSettings, Window

__all__ = ["AppliedBudget", "budget_exceeded", "window_bounds"]

_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}

# Sessions and runs end without telling the mesh, so their whole-lifetime counters are
# dropped after this long without a call instead of being kept forever.
_IDLE_EXPIRY_S = 30 * 86400


@dataclass(frozen=True)
class AppliedBudget:
    """A budget as it applies to one call: its subject, window key and limits.

    Attributes:
        budget: The configured budget.
        subject: Id of the tenant, user, agent, session, run or target it counts for.
        key: Store key of the current window.
        resets_at: Unix time in seconds when the window ends, or None for ``total``.
        limit: Limits in the store's units.
    """

    budget: BudgetSettings
    subject: str
    key: str
    resets_at: float | None
    limit: BudgetLimit


def window_bounds(window: Window, now: float) -> tuple[str, float | None]:
    """Return the window's id and end (Unix seconds, None for ``total``), windows aligned to UTC."""
    if window == "total":
        return "total", None
    if window == "month":
        start = datetime.fromtimestamp(now, tz=UTC)
        end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
        return f"{start.year:04d}{start.month:02d}", end.timestamp()
    length = _SECONDS[window]
    index = math.floor(now / length)
    return str(index), float((index + 1) * length)


def apply_budget(
    budget: BudgetSettings,
    *,
    prefix: str,
    tenant: str,
    subject: str,
    now: float,
    grace_s: float,
) -> AppliedBudget:
    """Resolve ``budget`` for one subject at time ``now``.

    Window keys carry the tenant in braces, a Redis Cluster hash tag, so that every
    key one call touches lives in one slot and a Lua script may update them together.
    Keys outlive their window by ``grace_s`` so late settlements still land. A
    ``total`` window of a session or run expires 30 days after its last call.
    """
    window_id, resets_at = window_bounds(budget.window, now)
    expires_at = None if resets_at is None else resets_at + grace_s
    if resets_at is None and budget.per in ("session", "run"):
        expires_at = now + _IDLE_EXPIRY_S
    key = f"{prefix}:{{{tenant}}}:budget:{budget.label}:{subject}:{window_id}"
    limit = BudgetLimit(
        tokens=budget.max_tokens,
        cost_nano_usd=None if budget.max_cost_usd is None else to_nano_usd(budget.max_cost_usd),
        requests=budget.max_requests,
        expires_at=expires_at,
    )
    return AppliedBudget(budget=budget, subject=subject, key=key, resets_at=resets_at, limit=limit)


def budget_exceeded(applied: AppliedBudget, denial: BudgetDenial, *, tenant: str, now: float) -> BudgetExceeded:
    """Build the error for a denied reservation: the budget, its limit, the spend and the reset time."""
    budget = applied.budget
    unit = {"tokens": "tokens", "cost": "USD", "requests": "requests"}[denial.dimension]

    def shown(value: int) -> str:
        return f"{value / 1e9:.6f}" if denial.dimension == "cost" else str(value)

    if applied.resets_at is None:
        reset = "the budget has no window and does not reset"
    else:
        moment = datetime.fromtimestamp(applied.resets_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        reset = f"the window resets at {moment} (in {_duration(applied.resets_at - now)})"
    subject = f"{budget.per} {applied.subject!r}" if budget.per != "tenant" else f"tenant {tenant!r}"
    message = (
        f"budget {budget.label!r} for {subject} is exhausted: limit {shown(denial.limit)} {unit} per {budget.window}, "
        f"spent {shown(denial.spent)}, held by calls in flight {shown(denial.held)}, "
        f"this call needs {shown(denial.requested)}; {reset}. "
        f"Wait for the reset or raise the limit of budget {budget.label!r} in mesh.yaml"
    )
    details = {
        "budget": budget.label,
        "tenant": tenant,
        "per": budget.per,
        "subject": applied.subject,
        "window": budget.window,
        "dimension": denial.dimension,
        "limit": denial.limit / 1e9 if denial.dimension == "cost" else denial.limit,
        "spent": denial.spent / 1e9 if denial.dimension == "cost" else denial.spent,
        "held": denial.held / 1e9 if denial.dimension == "cost" else denial.held,
        "requested": denial.requested / 1e9 if denial.dimension == "cost" else denial.requested,
        "resets_at": applied.resets_at,
    }
    return BudgetExceeded(message, details=details)


def _duration(seconds: float) -> str:
    seconds = max(math.ceil(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
