"""The router: picks targets for a request through an ordered policy chain and plans retries and fallbacks."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel

from mesh_agents.embeddings import Vectorizer
from mesh_agents.errors import ConfigurationError, InvalidInputError, PolicyViolation
from mesh_agents.routing.base import BudgetGauge, Candidate, RouteDecision, RoutingPolicy, Target
from mesh_agents.routing.health import HealthStore, MemoryHealthStore
from mesh_agents.routing.policies import (
    BudgetAwareDowngrade,
    CapabilityFilter,
    CostCeiling,
    LeastBusy,
    LowestExpectedCost,
    LowestLatency,
    Rules,
    TenantPinning,
    WeightedRoundRobin,
    deciding,
)
from mesh_agents.routing.retry import RetryPlan
from mesh_agents.routing.schema import (
    BudgetDowngradeSettings,
    CapabilityFilterSettings,
    CostCeilingSettings,
    LeastBusySettings,
    LowestCostSettings,
    LowestLatencySettings,
    PolicySettings,
    RoundRobinSettings,
    RoutingSettings,
    RulesSettings,
    SemanticRoutesSettings,
    TenantPinningSettings,
)
from mesh_agents.routing.semantic import MemoryRouteIndex, RouteIndex, SemanticRoute, SemanticRoutes
from mesh_agents.routing.targets import target_from_model, target_from_settings
from mesh_agents.types import MeshRequest

if TYPE_CHECKING:
    # settings imports routing.schema, which runs this package's __init__; a runtime import would be circular.
    from mesh_agents.settings import MeshSettings

__all__ = ["Router"]

logger = logging.getLogger(__name__)


class Router:
    """Chooses, per request, the targets to try and in which order, and explains why.

    Args:
        settings: Mesh settings; ``settings.routing`` (merged per tenant through
            ``settings.for_tenant``) gives targets, the policy chain, retries and health.
        targets: Targets by name, as chat models or ``Target`` objects; when None, the
            targets declared in ``settings.routing.targets`` are built with langchain's
            ``init_chat_model`` on first use.
        policies: Policy chain for every tenant, replacing the chains in settings.
        routes: Semantic routes; a ``SemanticRoutes`` policy over them is appended to
            every chain.
        vectorizer: Embeds request text for semantic routes; defaults to the local
            all-MiniLM-L6-v2, loaded only when a semantic route is used.
        health: Health store; defaults to Redis when ``settings.redis_url`` is set, so
            breakers are shared by every process, else to this process's memory.
        budget: Reports the used share of a tenant's budget for budget-aware downgrade.
        clock: Returns Unix seconds; inject a fake one to test breakers without sleeping.
        rng: Source of backoff jitter.
    """

    def __init__(
        self,
        settings: MeshSettings,
        *,
        targets: Mapping[str, BaseChatModel | Target] | None = None,
        policies: Sequence[RoutingPolicy] | None = None,
        routes: Sequence[SemanticRoute] | None = None,
        vectorizer: Vectorizer | None = None,
        health: HealthStore | None = None,
        budget: BudgetGauge | Callable[[str], float] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.budget = budget
        self.clock = clock
        self.rng = rng or random.Random()
        self._given_targets = targets
        self._given_policies = list(policies) if policies is not None else None
        self._given_routes = list(routes) if routes else None
        self._vectorizer = vectorizer
        self._targets: dict[str, Target] | None = None
        self._chains: dict[str, tuple[RoutingSettings, list[RoutingPolicy]]] = {}
        self._indexes: dict[str, RouteIndex] = {}
        self._lock = threading.RLock()
        self.health: HealthStore = health or self._default_health()

    # Targets.

    @property
    def targets(self) -> Mapping[str, Target]:
        """Targets by name; settings-declared ones are built on first access."""
        with self._lock:
            if self._targets is None:
                self._targets = self._build_targets()
            return self._targets

    def _build_targets(self) -> dict[str, Target]:
        if self._given_targets is not None:
            built: dict[str, Target] = {}
            for name, value in self._given_targets.items():
                if isinstance(value, Target):
                    built[name] = value if value.name == name else _renamed(value, name)
                elif isinstance(value, BaseChatModel):
                    built[name] = target_from_model(name, value)
                else:
                    raise ConfigurationError(
                        f"target {name!r} is a {type(value).__name__}; pass a LangChain chat model or a Target"
                    )
            return built
        return {name: target_from_settings(name, spec) for name, spec in self.settings.routing.targets.items()}

    # Decisions.

    def route(self, request: MeshRequest) -> RouteDecision:
        """Rank the targets for ``request``: the winner first, then the fallbacks.

        Raises:
            ConfigurationError: no targets are configured.
            InvalidInputError: ``request.model`` names an unknown or disallowed target.
            PolicyViolation: the policies removed every target; the message lists why.
        """
        targets = self.targets
        if not targets:
            raise ConfigurationError(
                "no routing targets: pass targets={'name': chat_model} to Mesh or Router, "
                "or declare them under routing.targets in mesh.yaml (model: 'openai:gpt-4o-mini')"
            )
        routing, chain = self._chain_for(request.tenant)
        order = self._declared_order(routing, targets)
        now = self.clock()
        health = self.health.snapshot(order, now)
        candidates = [Candidate(target=targets[name], health=health[name]) for name in order]
        if routing.allowed_targets is not None:
            for candidate in candidates:
                if candidate.target.name not in routing.allowed_targets:
                    candidate.remove("allowed_targets", f"not allowed for tenant {request.tenant}")

        with deciding(request) as facts:
            if request.model is not None:
                requested = self._requested(request, candidates, targets)
            else:
                requested = None
            _drop_open_circuits(candidates, keep=requested)
            for policy in chain:
                candidates = policy.apply(candidates, request)

            if requested is not None and requested.removed_by is not None:
                # The request named this target, so a policy's objection is explained, not enforced.
                requested.notes["requested"] = f"kept although {requested.removed_by} objected"
                requested.removed_by = None
            alive = [c for c in candidates if c.removed_by is None]
            position = {name: index for index, name in enumerate(order)}
            alive.sort(key=lambda c: (*_keys(c, chain), position[c.target.name]))
            if requested is not None:
                alive = [requested, *[c for c in alive if c is not requested]]
            if not alive:
                raise PolicyViolation(_nothing_left_message(request.tenant, candidates), details=_removals(candidates))
            ranked = [c.target.name for c in alive]
            explanation = _explain(candidates, chain, ranked, facts, request.model)
            decision = RouteDecision(ranked=ranked, route=facts.route, explanation=explanation)
        logger.debug("routed tenant=%s winner=%s route=%s", request.tenant, decision.chosen, decision.route)
        return decision

    def plan(self, decision: RouteDecision, request: MeshRequest) -> RetryPlan:
        """Return the retry and fallback plan for one request along ``decision.ranked``."""
        targets = self.targets
        unknown = [name for name in decision.ranked if name not in targets]
        if unknown:
            raise InvalidInputError(
                f"route decision names unknown targets {unknown}; known targets: {', '.join(sorted(targets))}",
                details={"unknown": unknown},
            )
        routing, _ = self._chain_for(request.tenant)
        return RetryPlan(decision, targets, routing, self.health, clock=self.clock, rng=self.rng)

    def _requested(self, request: MeshRequest, candidates: list[Candidate], targets: Mapping[str, Target]) -> Candidate:
        name = request.model
        if name not in targets:
            raise InvalidInputError(
                f"unknown model {name!r}: use one of the targets {', '.join(sorted(targets))} "
                "or leave model unset to let the router choose",
                details={"model": name, "known": sorted(targets)},
            )
        chosen = next(c for c in candidates if c.target.name == name)
        if chosen.removed_by == "allowed_targets":
            raise InvalidInputError(
                f"model {name!r} is not allowed for tenant {request.tenant!r}; "
                "use one of its allowed_targets or leave model unset",
                details={"model": name, "tenant": request.tenant},
            )
        chosen.notes["requested"] = "named by the request"
        return chosen

    def _declared_order(self, routing: RoutingSettings, targets: Mapping[str, Target]) -> list[str]:
        order = list(targets)
        if routing.default_target is not None:
            if routing.default_target not in targets:
                raise ConfigurationError(
                    f"routing.default_target {routing.default_target!r} is not a target; "
                    f"use one of: {', '.join(sorted(targets))}"
                )
            order.remove(routing.default_target)
            order.insert(0, routing.default_target)
        return order

    # Policy chains.

    def _chain_for(self, tenant: str) -> tuple[RoutingSettings, list[RoutingPolicy]]:
        with self._lock:
            cached = self._chains.get(tenant)
            if cached is None:
                routing = self.settings.for_tenant(tenant).routing
                if self._given_policies is not None:
                    chain = list(self._given_policies)
                else:
                    chain = [self._policy_from(spec) for spec in routing.policies]
                if self._given_routes:
                    chain.append(SemanticRoutes(self._index_for(self._given_routes, "avg"), self.vectorizer))
                cached = self._chains[tenant] = (routing, _unique_names(chain))
            return cached

    def _policy_from(self, spec: PolicySettings) -> RoutingPolicy:
        if isinstance(spec, CapabilityFilterSettings):
            return CapabilityFilter(
                detect_language=spec.detect_language, output_reserve_tokens=spec.output_reserve_tokens
            )
        if isinstance(spec, CostCeilingSettings):
            return CostCeiling(spec.max_cost_usd, allow_unpriced=spec.allow_unpriced)
        if isinstance(spec, LowestCostSettings):
            return LowestExpectedCost()
        if isinstance(spec, LowestLatencySettings):
            return LowestLatency()
        if isinstance(spec, RoundRobinSettings):
            return WeightedRoundRobin()
        if isinstance(spec, LeastBusySettings):
            return LeastBusy()
        if isinstance(spec, TenantPinningSettings):
            return TenantPinning({"*": spec.targets}, exclusive=spec.exclusive)
        if isinstance(spec, BudgetDowngradeSettings):
            if self.budget is None:
                logger.warning("budget_downgrade policy has no budget gauge; pass budget= to the Router")
            return BudgetAwareDowngrade(self.budget, threshold=spec.threshold, targets=spec.targets)
        if isinstance(spec, RulesSettings):
            return Rules(spec.rules, exclusive=spec.exclusive)
        if isinstance(spec, SemanticRoutesSettings):
            index = self._index_for(spec.routes, spec.aggregation)
            return SemanticRoutes(index, self.vectorizer, exclusive=spec.exclusive)
        raise ConfigurationError(f"unknown routing policy kind {type(spec).__name__}")

    @property
    def vectorizer(self) -> Vectorizer:
        with self._lock:
            if self._vectorizer is None:
                from mesh_agents.embeddings import default_vectorizer

                self._vectorizer = default_vectorizer()
            return self._vectorizer

    def _index_for(self, routes: Sequence[SemanticRoute], aggregation: Any) -> RouteIndex:
        """Return one index per distinct route set, so tenants sharing routes share embeddings."""
        payload = json.dumps([r.model_dump() for r in routes] + [aggregation, self.vectorizer.name], sort_keys=True)
        key = hashlib.sha256(payload.encode()).hexdigest()[:16]
        with self._lock:
            index = self._indexes.get(key)
            if index is None:
                if self.settings.redis_url:
                    from mesh_agents.routing.redis import RedisRouteIndex

                    index = RedisRouteIndex(
                        routes,
                        self.vectorizer,
                        self.settings.redis_url,
                        name=f"mesh-routes-{key}",
                        aggregation=aggregation,
                    )
                else:
                    index = MemoryRouteIndex(routes, self.vectorizer, aggregation=aggregation)
                self._indexes[key] = index
            return index

    def _default_health(self) -> HealthStore:
        health_settings = self.settings.routing.health
        if self.settings.redis_url:
            from mesh_agents.routing.redis import RedisHealthStore

            return RedisHealthStore(self.settings.redis_url, health_settings)
        return MemoryHealthStore(health_settings)


def _renamed(target: Target, name: str) -> Target:
    from dataclasses import replace

    return replace(target, name=name)


def _unique_names(chain: list[RoutingPolicy]) -> list[RoutingPolicy]:
    seen: dict[str, int] = {}
    for policy in chain:
        count = seen.get(policy.name, 0)
        seen[policy.name] = count + 1
        if count:
            policy.name = f"{policy.name}#{count + 1}"
    return chain


def _drop_open_circuits(candidates: list[Candidate], keep: Candidate | None) -> None:
    """Remove targets whose breaker rejects calls, unless that would leave nothing to try."""
    alive = [c for c in candidates if c.removed_by is None]
    healthy = [c for c in alive if c.health.available]
    if not healthy:
        return
    for candidate in alive:
        if not candidate.health.available and candidate is not keep:
            candidate.remove("circuit_breaker", f"circuit {candidate.health.state.value}")


def _keys(candidate: Candidate, chain: list[RoutingPolicy]) -> tuple[float, ...]:
    return tuple(candidate.scores.get(policy.name, 0.0) for policy in chain)


def _removals(candidates: list[Candidate]) -> dict[str, Any]:
    return {c.target.name: {"removed_by": c.removed_by, "reason": c.notes.get(c.removed_by or "")} for c in candidates}


def _nothing_left_message(tenant: str, candidates: list[Candidate]) -> str:
    reasons = "; ".join(f"{c.target.name}: {c.removed_by} ({c.notes.get(c.removed_by or '', '')})" for c in candidates)
    return (
        f"no target can serve this request for tenant {tenant!r}: {reasons}. "
        "Add a target with the missing capability or relax the routing policy"
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _explain(
    candidates: list[Candidate], chain: list[RoutingPolicy], ranked: list[str], facts: Any, requested: str | None
) -> dict[str, Any]:
    """Build the decision's explanation: names, numbers and reasons, never request text."""
    rows = []
    for candidate in candidates:
        health = candidate.health
        removed = candidate.removed_by
        rows.append(
            {
                "target": candidate.target.name,
                "removed_by": removed,
                "reason": candidate.notes.get(removed) if removed else None,
                "notes": {key: value for key, value in candidate.notes.items() if key != removed},
                "scores": {name: _finite(value) for name, value in candidate.scores.items()},
                "expected_cost_usd": candidate.notes.get("expected_cost_usd"),
                "rank": ranked.index(candidate.target.name) if candidate.target.name in ranked else None,
                "breaker": health.state.value,
                "latency_ewma_s": health.latency_ewma_s,
                "error_rate": round(health.error_rate, 4),
                "in_flight": health.in_flight,
            }
        )
    return {
        "policies": [policy.name for policy in chain],
        "candidates": rows,
        "ranked": list(ranked),
        "winner": ranked[0],
        "requested_model": requested,
        "route": facts.route,
        "route_distance": facts.route_distance,
        "estimated_input_tokens": facts.input_tokens,
        "budget_fraction_used": facts.budget_fraction,
    }
