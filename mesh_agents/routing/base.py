"""Contracts of routing: targets, decisions, policies and attempt plans."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel

from mesh_agents.types import MeshRequest

__all__ = ["Attempt", "AttemptPlan", "Candidate", "RouteDecision", "RoutingPolicy", "Target"]


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
    """

    name: str
    model: BaseChatModel
    provider: str = "unknown"
    model_name: str = ""
    context_window: int = 128_000
    capabilities: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    weight: float = 1.0


@dataclass
class Candidate:
    """A target under consideration, with what each policy said about it."""

    target: Target
    score: float = 0.0
    removed_by: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class RouteDecision:
    """Which targets to try, in order, and why.

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


@dataclass(frozen=True)
class Attempt:
    """One call to make: which target, which try, and how long to wait first (seconds)."""

    target: Target
    number: int
    delay_s: float = 0.0
    is_fallback: bool = False


@runtime_checkable
class AttemptPlan(Protocol):
    """Retry and fallback state for one request, free of I/O.

    The caller asks for the next attempt, makes the call, and reports the outcome;
    the plan decides whether to retry the same target, fall back, or stop.
    """

    def next_attempt(self) -> Attempt | None:
        """Return the next attempt, or None when nothing is left to try."""
        ...

    def record_success(self, attempt: Attempt, latency_s: float) -> None: ...

    def record_failure(self, attempt: Attempt, error: BaseException, latency_s: float) -> None: ...


@runtime_checkable
class RoutingPolicy(Protocol):
    """One step of a routing pipeline: filters or re-scores candidates."""

    name: str

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        """Return the candidates, marking removed ones with ``removed_by``."""
        ...
