"""The routing capability: pick targets per request by policy, retry, fall back and track health.

``Router`` is the facade: ``route(request)`` returns a ``RouteDecision`` (ranked
targets and an explanation without prompt text) and ``plan(decision, request)`` a
``RetryPlan`` that hands out attempts with backoff and fallback. Redis backends live
in ``mesh_agents.routing.redis`` and are imported only when ``redis_url`` is set.
"""

from mesh_agents.routing.base import (
    Attempt,
    AttemptPlan,
    BreakerState,
    BudgetGauge,
    Candidate,
    HealthSnapshot,
    RouteDecision,
    RoutingPolicy,
    Target,
)
from mesh_agents.routing.health import HealthRecord, HealthStore, MemoryHealthStore
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
)
from mesh_agents.routing.retry import ErrorClass, ErrorKind, PlanStats, RetryPlan, classify_error
from mesh_agents.routing.router import Router
from mesh_agents.routing.schema import RoutingSettings, SemanticRouteSettings, TargetSettings
from mesh_agents.routing.semantic import MemoryRouteIndex, RouteIndex, RouteMatch, SemanticRoute, SemanticRoutes
from mesh_agents.routing.targets import target_from_model, target_from_settings

__all__ = [
    "Attempt",
    "AttemptPlan",
    "BreakerState",
    "BudgetAwareDowngrade",
    "BudgetGauge",
    "Candidate",
    "CapabilityFilter",
    "CostCeiling",
    "ErrorClass",
    "ErrorKind",
    "HealthRecord",
    "HealthSnapshot",
    "HealthStore",
    "LeastBusy",
    "LowestExpectedCost",
    "LowestLatency",
    "MemoryHealthStore",
    "MemoryRouteIndex",
    "PlanStats",
    "RetryPlan",
    "RouteDecision",
    "RouteIndex",
    "RouteMatch",
    "Router",
    "RoutingPolicy",
    "RoutingSettings",
    "Rules",
    "SemanticRoute",
    "SemanticRouteSettings",
    "SemanticRoutes",
    "Target",
    "TargetSettings",
    "TenantPinning",
    "WeightedRoundRobin",
    "classify_error",
    "target_from_model",
    "target_from_settings",
]
