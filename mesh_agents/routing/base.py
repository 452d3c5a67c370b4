"""Contracts of routing: targets, decisions, policies and attempt plans."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel

from mesh_agents.types import MeshRequest

__all__ = [
    "Attempt",
    "AttemptPlan",
    "BreakerState",
    "BudgetGauge",
    "Candidate",
    "HealthSnapshot",
    "RouteDecision",
    "RoutingPolicy",
    "Target",
]


@dataclass
class Target:
    """A model (or service) the router can pick.

    Attributes:
        name: Unique name used in settings, spans and reports (``"gpt-4o-mini"``).
        model: The LangChain chat model that serves it.
        provider: Provider id in OpenTelemetry GenAI terms (``"openai"``, ``"ollama"``).
        model_name: Provider's model name, used for pricing.
        context_window: Maximum prompt plus output tokens.
        capabilities: Capability tags such as ``"tools"``, ``"vision"``, ``"json"``,
            ``"lang:de"``.
        tags: Free tags that policies can match (``"cheap"``, ``"eu"``).
        weight: Relative weight for weighted round robin.
        input_usd_per_token: Price of one input token in US dollars; None when unknown.
        output_usd_per_token: Price of one output token in US dollars; None when unknown.
    """

    name: str
    model: BaseChatModel
    provider: str = "unknown"
    model_name: str = ""
    context_window: int = 128_000
    capabilities: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    weight: float = 1.0
    input_usd_per_token: float | None = None
    output_usd_per_token: float | None = None

    @property
    def priced(self) -> bool:
        return self.input_usd_per_token is not None and self.output_usd_per_token is not None

    def expected_cost_usd(self, input_tokens: int, output_tokens: int) -> float | None:
        """Return the price of a call of this size in US dollars, or None when the target has no price."""
        if self.input_usd_per_token is None or self.output_usd_per_token is None:
            return None
        return input_tokens * self.input_usd_per_token + output_tokens * self.output_usd_per_token


class BreakerState(enum.StrEnum):
    """Circuit breaker state of one target."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class HealthSnapshot:
    """Health of one target as the store reports it when a decision is made.

    Attributes:
        state: Circuit breaker state.
        available: Whether the breaker lets a call through now (closed, or open with its
            cooldown over so a probe may go).
        latency_ewma_s: Exponentially weighted mean latency of successful calls, seconds;
            None before the first success.
        error_rate: Exponentially weighted share of failed calls, 0 to 1.
        calls: Calls recorded since the breaker last closed.
        in_flight: Calls started and not yet reported, across every process sharing the store.
    """

    state: BreakerState = BreakerState.CLOSED
    available: bool = True
    latency_ewma_s: float | None = None
    error_rate: float = 0.0
    calls: int = 0
    in_flight: int = 0


@dataclass
class Candidate:
    """A target under consideration, with the scores and notes the policies gave it.

    Attributes:
        target: The target.
        scores: Sort key per ranking policy name, lower is better. The router sorts by
            these keys in policy order, so earlier policies take precedence.
        removed_by: Name of the policy that removed the candidate, or None.
        notes: Short facts per policy for the explanation (the reason for a removal,
            the expected cost); never prompt text.
        health: The target's health when the decision was made.
    """

    target: Target
    scores: dict[str, float] = field(default_factory=dict)
    removed_by: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    health: HealthSnapshot = field(default_factory=HealthSnapshot)

    def remove(self, policy: str, reason: str) -> None:
        """Mark the candidate as removed by ``policy`` unless an earlier policy already did."""
        if self.removed_by is None:
            self.removed_by = policy
            self.notes[policy] = reason


@dataclass
class RouteDecision:
    """Targets to try, in order, and the reasons for the order.

    Attributes:
        ranked: Target names to try, best first; fallbacks follow the winner.
        route: Name of the semantic route that matched, if any.
        explanation: Candidates, the policy that removed each, scores and the winner.
            Never prompt text.
    """

    ranked: list[str]
    route: str | None = None
    explanation: dict[str, Any] = field(default_factory=dict)

    @property
    def chosen(self) -> str:
        return self.ranked[0]

    @property
    def fallbacks(self) -> list[str]:
        return self.ranked[1:]

    def span_attributes(self) -> dict[str, Any]:
        """Return the explanation as OpenTelemetry span attributes under ``mesh.route.*``.

        Lists name each removed target with its policy (``"gpt-4o=cost_ceiling"``);
        the whole explanation goes in ``mesh.route.explanation`` as JSON. None of it
        contains request text.
        """
        rows = self.explanation.get("candidates", [])
        attributes: dict[str, Any] = {
            "mesh.route.target": self.chosen,
            "mesh.route.candidates": list(self.ranked),
            "mesh.route.policies": list(self.explanation.get("policies", [])),
            "mesh.route.removed": [f"{row['target']}={row['removed_by']}" for row in rows if row.get("removed_by")],
            "mesh.route.explanation": json.dumps(self.explanation, sort_keys=True, default=str),
        }
        if self.route is not None:
            attributes["mesh.route.name"] = self.route
            distance = self.explanation.get("route_distance")
            if distance is not None:
                attributes["mesh.route.distance"] = float(distance)
        return attributes


@dataclass(frozen=True)
class Attempt:
    """One call to make: which target, which try, and how long to wait first.

    Attributes:
        target: Target to call.
        number: 1 for the first attempt of the request, counting every retry and fallback.
        delay_s: Seconds to wait before the call (backoff); 0 for a first call on a target.
        is_fallback: Whether the target is not the decision's winner.
        timeout_s: Seconds the caller should allow the call before cancelling it; None for no limit.
        retry: 0 for the first call on this target, n for its n-th retry.
    """

    target: Target
    number: int
    delay_s: float = 0.0
    is_fallback: bool = False
    timeout_s: float | None = None
    retry: int = 0


@runtime_checkable
class AttemptPlan(Protocol):
    """Retry and fallback state for one request, free of I/O.

    The caller asks for the next attempt, makes the call, and reports the outcome.
    The plan then decides whether to retry the same target, fall back, or stop.
    """

    def next_attempt(self) -> Attempt | None:
        """Return the next attempt, or None when nothing is left to try."""
        ...

    def record_success(self, attempt: Attempt, latency_s: float) -> None:
        """Report that the attempt answered after ``latency_s`` seconds; the plan ends."""
        ...

    def record_failure(self, attempt: Attempt, error: BaseException, latency_s: float) -> None:
        """Report that the attempt raised ``error`` after ``latency_s`` seconds."""
        ...


@runtime_checkable
class RoutingPolicy(Protocol):
    """One step of a routing pipeline: filters or re-scores candidates."""

    name: str

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        """Return the candidates, marking removed ones with ``removed_by`` and scoring the rest.

        A policy sees removed candidates too (to explain them) but must not revive one.
        """
        ...


@runtime_checkable
class BudgetGauge(Protocol):
    """How much of a tenant's budget is used; the usage capability can provide one."""

    def fraction_used(self, tenant: str) -> float:
        """Return the used share of the tenant's tightest budget, 0 to 1 (above 1 when overrun)."""
        ...
