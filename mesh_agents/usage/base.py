"""Contracts of token and cost tracking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["BudgetStore", "Reservation", "TokenUsage", "UsageRecord"]


@dataclass(frozen=True)
class TokenUsage:
    """Token counts of one call.

    Attributes:
        input_tokens: Prompt tokens, cache reads included.
        output_tokens: Completion tokens, reasoning included.
        cache_read_tokens: Prompt tokens served from the provider's or the mesh's cache.
        cache_creation_tokens: Prompt tokens written to the provider's cache.
        reasoning_tokens: Output tokens spent on reasoning.
        estimated: True when counted with a local tokenizer rather than reported by
            the provider.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class Reservation:
    """Budget held for a call before it is made; settled or released afterwards.

    Attributes:
        id: Unique id; expired reservations are freed by the store.
        tenant: Tenant the call is charged to.
        target: Target name.
        tokens: Tokens held.
        cost_usd: Money held, in US dollars.
        budget_keys: Store keys of every budget window that holds this reservation.
        expires_at: Unix time in seconds after which the store frees it.
    """

    id: str
    tenant: str
    target: str
    tokens: int
    cost_usd: float
    budget_keys: list[str] = field(default_factory=list)
    expires_at: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UsageRecord:
    """One ledger row: who used which model, how much, at what cost.

    ``cost_usd`` is None when the model has no known price; such records are
    reported as unpriced rather than counted as free.
    """

    timestamp: float
    tenant: str
    target: str
    model_name: str
    usage: TokenUsage
    cost_usd: float | None
    cached: bool = False
    user: str | None = None
    agent: str | None = None
    session: str | None = None
    run_id: str | None = None
    trace_id: str | None = None


@runtime_checkable
class BudgetStore(Protocol):
    """Atomic reservation and settlement against budget windows."""

    def reserve(self, reservation: Reservation, limits: dict[str, float]) -> str | None:
        """Hold the reservation in every key of ``limits`` at once.

        Returns None on success, or the key whose limit would be exceeded, in which
        case nothing was held.
        """
        ...

    def settle(self, reservation: Reservation, tokens: int, cost_usd: float) -> None:
        """Replace the held amounts with the actual ones."""
        ...
