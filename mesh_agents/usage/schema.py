"""Settings of token and cost tracking."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["BudgetSettings", "UsageSettings"]


class BudgetSettings(BaseModel):
    """One budget: a limit over a window for one kind of subject."""

    per: Literal["tenant", "user", "agent", "session", "run", "model"] = "tenant"
    window: Literal["minute", "hour", "day", "month", "total"] = "day"
    max_tokens: int | None = Field(default=None, ge=0)
    max_cost_usd: float | None = Field(default=None, ge=0.0)
    max_requests: int | None = Field(default=None, ge=0)
    fail_open: bool = Field(default=False, description="Allow calls when the store is unreachable.")


class UsageSettings(BaseModel):
    """A tenant's usage policy."""

    budgets: list[BudgetSettings] = Field(default_factory=list)
    reservation_ttl_s: int = Field(default=300, ge=1, description="Unsettled reservations expire after this, seconds.")
