"""Contracts of token and cost tracking: usage, reservations, ledger records and stores."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "BudgetDenial",
    "BudgetLimit",
    "BudgetStore",
    "Ledger",
    "Outcome",
    "Reservation",
    "TokenCount",
    "TokenUsage",
    "Tokenizer",
    "UsageRecord",
    "remaining_from_store",
    "to_nano_usd",
]

Outcome = Literal["ok", "cached", "failed", "blocked"]
"""The kind of a ledger record: a settled call, a cache hit, a failed attempt, or a blocked request."""


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


class TokenCount(NamedTuple):
    """A token count and how it was made.

    Attributes:
        tokens: Number of tokens.
        estimated: False only when the tokenizer is the one the model bills with and
            the input was plain text; message lists add an estimated per-message overhead.
        tokenizer: Name of the tokenizer that counted.
    """

    tokens: int
    estimated: bool
    tokenizer: str


@dataclass
class Reservation:
    """Budget held for a call before it is made; settled or released afterwards.

    Attributes:
        id: Unique id; expired reservations are freed by the store.
        tenant: Tenant the call is charged to.
        target: Target name.
        tokens: Tokens held: the prompt estimate plus the output cap.
        cost_usd: Money held, in US dollars (0 when the model has no known price).
        budget_keys: Store keys of every budget window that holds this reservation.
        expires_at: Unix time in seconds after which the store frees it.
        labels: Who and what the call is for (user, agent, session, run, model,
            provider), copied into the ledger record.
        prompt_tokens: Estimated prompt tokens, the input part of ``tokens``.
        remaining: Room left after this hold in the tightest budget of each limited
            dimension: ``"tokens"``, ``"cost_usd"``, ``"requests"``. Set by the store.
        held: Whether a store holds the amounts (False when no budget applies or the
            store was unreachable and every budget is fail-open).
        closed: Set once the reservation is settled or released.
    """

    id: str
    tenant: str
    target: str
    tokens: int
    cost_usd: float
    budget_keys: list[str] = field(default_factory=list)
    expires_at: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 0
    held: bool = False
    closed: bool = False
    remaining: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class UsageRecord:
    """One ledger row: who used which model, how much, at what cost.

    ``cost_usd`` is None when the model has no known price; such records are
    reported as unpriced rather than counted as free. A cache hit (``cached``) spends
    nothing: its ``usage`` is what the original call used, its ``cost_usd`` is 0 and
    ``saved_usd`` is what the original call cost.
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
    provider: str | None = None
    outcome: Outcome = "ok"
    saved_usd: float | None = None
    budget: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready values."""
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        data["usage"] = {name: getattr(self.usage, name) for name in _USAGE_FIELDS}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UsageRecord:
        """Build a record from ``to_dict`` output; unknown keys are ignored."""
        usage = TokenUsage(**{k: v for k, v in dict(data.get("usage") or {}).items() if k in _USAGE_FIELDS})
        values = {k: v for k, v in data.items() if k in _RECORD_FIELDS}
        return cls(usage=usage, **values)


_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "estimated",
)
_RECORD_FIELDS = tuple(name for name in UsageRecord.__dataclass_fields__ if name != "usage")


def to_nano_usd(cost_usd: float) -> int:
    """Convert US dollars to the integer billionths of a dollar that stores count in."""
    return round(cost_usd * 1e9)


def remaining_from_store(room: Mapping[str, int]) -> dict[str, float]:
    """Convert a store's room per dimension (cost in billionths of a dollar) to ``Reservation.remaining``."""
    remaining: dict[str, float] = {}
    if "tokens" in room:
        remaining["tokens"] = room["tokens"]
    if "cost" in room:
        remaining["cost_usd"] = room["cost"] / 1e9
    if "requests" in room:
        remaining["requests"] = room["requests"]
    return remaining


@dataclass(frozen=True)
class BudgetLimit:
    """Limits of one budget window as the store sees them.

    Attributes:
        tokens: Token limit, or None for no limit.
        cost_nano_usd: Spend limit in billionths of a US dollar, or None.
        requests: Call limit, or None.
        expires_at: Unix time in seconds after which the counters may be deleted,
            or None for a window that never resets.
    """

    tokens: int | None
    cost_nano_usd: int | None
    requests: int | None
    expires_at: float | None


@dataclass(frozen=True)
class BudgetDenial:
    """Why a reservation was not held: the first budget key without room.

    Attributes:
        key: The budget window's store key.
        dimension: ``"tokens"``, ``"cost"`` or ``"requests"``.
        limit: The limit, in the dimension's unit (cost in billionths of a dollar).
        spent: Spent by settled calls in the window, in the same unit.
        held: Held by calls in flight, in the same unit.
        requested: What this reservation asked for, in the same unit.
    """

    key: str
    dimension: Literal["tokens", "cost", "requests"]
    limit: int
    spent: int
    held: int
    requested: int


@runtime_checkable
class BudgetStore(Protocol):
    """Atomic reservation and settlement against budget windows.

    Amounts held by a reservation are freed when it is settled or released, or by
    the store once ``reservation.expires_at`` has passed, so a crashed caller cannot
    hold budget forever. Stores count cost in billionths of a US dollar
    (``to_nano_usd``) so that they add integers.
    """

    def reserve(self, reservation: Reservation, limits: Mapping[str, BudgetLimit]) -> BudgetDenial | None:
        """Hold the reservation in every key of ``limits`` at once.

        Returns None on success, after setting ``reservation.remaining``, or the
        first key whose limit would be exceeded, in which case nothing was held.

        Raises:
            BackendUnavailable: the store could not be reached.
        """
        ...

    def settle(self, reservation: Reservation, *, tokens: int, cost_usd: float) -> None:
        """Replace the held amounts with the spent ones (one request, ``tokens``, ``cost_usd``)."""
        ...

    def release(self, reservation: Reservation) -> None:
        """Free the held amounts without spending anything."""
        ...

    def usage(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        """Return ``{key: {"tokens", "cost", "requests", "held_tokens", "held_cost", "held_requests"}}``."""
        ...


@runtime_checkable
class Ledger(Protocol):
    """Append-only store of usage records."""

    def append(self, record: UsageRecord) -> None: ...

    def query(self, *, since: float | None = None, tenant: str | None = None) -> list[UsageRecord]:
        """Return records with ``timestamp >= since`` (Unix seconds), oldest first."""
        ...


@runtime_checkable
class Tokenizer(Protocol):
    """Counts tokens of text."""

    name: str

    def count(self, text: str) -> int: ...

    def is_exact_for(self, model: str | None) -> bool:
        """Whether counts equal what ``model`` bills for the same text."""
        ...
