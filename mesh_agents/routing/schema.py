"""Settings of routing: targets, the ordered policy chain, retries, health and semantic routes.

A tenant override under ``tenants.<id>.routing`` replaces whole top-level fields, so a
tenant that sets ``policies`` gets exactly that chain while keeping the mesh-wide targets.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "BudgetDowngradeSettings",
    "CapabilityFilterSettings",
    "CostCeilingSettings",
    "HealthSettings",
    "LeastBusySettings",
    "LowestCostSettings",
    "LowestLatencySettings",
    "PolicySettings",
    "RoundRobinSettings",
    "RoutingSettings",
    "RuleSettings",
    "RulesSettings",
    "SemanticRouteSettings",
    "SemanticRoutesSettings",
    "TargetSettings",
    "TenantPinningSettings",
]


class TargetSettings(BaseModel):
    """A target declared in settings; ``model`` is a provider string for ``init_chat_model``.

    Prices and the context window are looked up in genai-prices when they are not given.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Provider string such as 'openai:gpt-4o-mini'.")
    provider: str | None = Field(default=None, description="Provider id; taken from the model string when absent.")
    model_name: str | None = Field(default=None, description="Provider's model name used for pricing.")
    context_window: int | None = Field(default=None, ge=1, description="Prompt plus output tokens.")
    capabilities: list[str] = Field(
        default_factory=list, description="Capability tags such as 'tools', 'vision', 'json', 'lang:de'."
    )
    tags: list[str] = Field(default_factory=list)
    weight: float = Field(default=1.0, gt=0.0, description="Relative share for weighted round robin.")
    input_usd_per_mtok: float | None = Field(default=None, ge=0.0, description="US dollars per million input tokens.")
    output_usd_per_mtok: float | None = Field(default=None, ge=0.0, description="US dollars per million output tokens.")
    init_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments for init_chat_model, such as base_url."
    )


class CapabilityFilterSettings(BaseModel):
    """Remove targets that lack what the request needs: tools, context room, its language."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["capabilities"] = "capabilities"
    detect_language: bool = Field(
        default=True,
        description="Detect the request language when some target declares 'lang:' capabilities.",
    )
    output_reserve_tokens: int = Field(
        default=1024, ge=0, description="Tokens kept free for the answer when max_tokens is not set."
    )


class CostCeilingSettings(BaseModel):
    """Remove targets whose expected cost for the request exceeds a ceiling."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["cost_ceiling"] = "cost_ceiling"
    max_cost_usd: float = Field(gt=0.0, description="Highest expected cost of one call, US dollars.")
    allow_unpriced: bool = Field(default=True, description="Keep targets with no known price.")


class LowestCostSettings(BaseModel):
    """Rank targets by expected cost of the request, cheapest first."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["lowest_cost"] = "lowest_cost"


class LowestLatencySettings(BaseModel):
    """Rank targets by their latency EWMA, fastest first; unmeasured targets rank first to get measured."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["lowest_latency"] = "lowest_latency"


class RoundRobinSettings(BaseModel):
    """Rotate the first place among targets in proportion to their ``weight``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["round_robin"] = "round_robin"


class LeastBusySettings(BaseModel):
    """Rank targets by calls in flight, fewest first."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["least_busy"] = "least_busy"


class TenantPinningSettings(BaseModel):
    """Pin the tenant to named targets (for example those hosted in its region)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["pinning"] = "pinning"
    targets: list[str] = Field(min_length=1)
    exclusive: bool = Field(default=True, description="Remove every other target rather than rank it last.")


class BudgetDowngradeSettings(BaseModel):
    """Prefer cheaper targets once the tenant has used ``threshold`` of its budget."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["budget_downgrade"] = "budget_downgrade"
    threshold: float = Field(default=0.8, gt=0.0, le=1.0, description="Fraction of the budget used, 0 to 1.")
    targets: list[str] = Field(
        default_factory=list, description="Targets to switch to; empty means the cheapest priced targets."
    )


class RuleSettings(BaseModel):
    """One rule: when every given condition holds, prefer ``targets`` in this order."""

    model_config = ConfigDict(extra="forbid")

    name: str
    targets: list[str] = Field(min_length=1)
    agents: list[str] = Field(default_factory=list, description="Match when the request's agent is one of these.")
    tags_any: list[str] = Field(default_factory=list, description="Match when the request has any of these tags.")
    needs_tools: bool | None = Field(default=None, description="Match on whether the request passes tools.")
    min_input_tokens: int | None = Field(default=None, ge=0, description="Match when the estimate is at least this.")
    max_input_tokens: int | None = Field(default=None, ge=0, description="Match when the estimate is at most this.")


class RulesSettings(BaseModel):
    """Ordered rules; the first rule that matches puts its targets first."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["rules"] = "rules"
    rules: list[RuleSettings] = Field(min_length=1)
    exclusive: bool = Field(default=False, description="Remove targets the matching rule does not name.")


class SemanticRouteSettings(BaseModel):
    """A semantic route: example utterances, its own distance threshold, and the targets it prefers."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    references: list[str] = Field(min_length=1, description="Example utterances of the route.")
    distance_threshold: float = Field(default=0.5, gt=0.0, le=2.0, description="Cosine distance, 0 to 2.")
    targets: list[str] = Field(default_factory=list, description="Targets preferred for this route, best first.")

    @field_validator("references")
    @classmethod
    def _check_references(cls, value: list[str]) -> list[str]:
        if any(not reference.strip() for reference in value):
            raise ValueError("a semantic route reference is empty: remove it or write the utterance")
        return value


class SemanticRoutesSettings(BaseModel):
    """Match the request text against semantic routes; the matching route's targets go first."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["semantic_routes"] = "semantic_routes"
    routes: list[SemanticRouteSettings] = Field(min_length=1)
    aggregation: Literal["avg", "min", "sum"] = Field(
        default="avg", description="How a route's reference distances combine, as in redisvl's SemanticRouter."
    )
    exclusive: bool = Field(default=False, description="Remove targets the matched route does not name.")

    @model_validator(mode="after")
    def _check_unique_names(self) -> SemanticRoutesSettings:
        names = [route.name for route in self.routes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"semantic route names must be unique; duplicated: {', '.join(duplicates)}")
        return self


PolicySettings = Annotated[
    CapabilityFilterSettings
    | CostCeilingSettings
    | LowestCostSettings
    | LowestLatencySettings
    | RoundRobinSettings
    | LeastBusySettings
    | TenantPinningSettings
    | BudgetDowngradeSettings
    | RulesSettings
    | SemanticRoutesSettings,
    Field(discriminator="kind"),
]


def _default_policies() -> list[PolicySettings]:
    return [CapabilityFilterSettings()]


class HealthSettings(BaseModel):
    """Latency and error tracking per target, and the circuit breaker that uses it."""

    model_config = ConfigDict(extra="forbid")

    ewma_alpha: float = Field(default=0.2, gt=0.0, le=1.0, description="Weight of the newest sample, 0 to 1.")
    failure_threshold: int = Field(default=5, ge=1, description="Consecutive failures that open the breaker.")
    error_rate_threshold: float = Field(
        default=0.5, gt=0.0, le=1.0, description="Error-rate EWMA that opens the breaker, 0 to 1."
    )
    min_calls: int = Field(default=10, ge=1, description="Calls seen before the error rate can open the breaker.")
    cooldown_s: float = Field(default=30.0, gt=0.0, description="Seconds the breaker stays open before a probe.")
    probe_timeout_s: float = Field(
        default=60.0, gt=0.0, description="Seconds after which an unanswered half-open probe may be retried."
    )
    in_flight_ttl_s: float = Field(
        default=300.0, gt=0.0, description="Seconds after which a call never reported stops counting as busy."
    )


class RoutingSettings(BaseModel):
    """A tenant's routing policy."""

    model_config = ConfigDict(extra="forbid")

    targets: dict[str, TargetSettings] = Field(default_factory=dict)
    default_target: str | None = Field(default=None, description="Target ranked first when no policy decides.")
    allowed_targets: list[str] | None = Field(default=None, description="Targets this tenant may use; None allows all.")
    policies: list[PolicySettings] = Field(
        default_factory=lambda: _default_policies(),
        description="Ordered policy chain; earlier ranking policies take precedence, later ones break ties.",
    )
    fallbacks: bool = Field(default=True, description="Fall back to the next ranked target after failures.")
    max_fallbacks: int | None = Field(default=None, ge=0, description="Most fallback targets tried; None for all.")
    max_retries: int = Field(default=2, ge=0, description="Retries per target before fallback.")
    backoff_base_s: float = Field(default=0.2, ge=0.0, description="First retry delay, seconds.")
    backoff_max_s: float = Field(default=5.0, ge=0.0, description="Maximum retry delay, seconds.")
    jitter: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Fraction of each backoff delay drawn at random, 0 to 1."
    )
    timeout_s: float | None = Field(default=60.0, gt=0.0, description="Per-attempt timeout, seconds.")
    health: HealthSettings = Field(
        default_factory=HealthSettings,
        description="Breaker and EWMA settings; read from the mesh-wide settings only, because health is per target.",
    )
