"""Settings of the semantic cache."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["GUARD_NAMES", "CacheSettings"]

GUARD_NAMES = ("number", "negation", "entity", "direction", "time", "scope", "format", "word_change")
"""Hard-negative guards, in the order they run; see ``mesh_agents.cache.guards``."""


class CacheSettings(BaseModel):
    """A tenant's cache policy."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # The default comes from `mesh-agents cache calibrate` on the bundled dev pairs with
    # all-MiniLM-L6-v2 and every guard on: the most hits with precision 1.0 and no hard
    # negative served. Recalibrate after changing the vectorizer or the guards.
    distance_threshold: float = Field(
        default=0.1695, ge=0.0, le=2.0, description="Cosine distance, 0 to 2, for a semantic hit."
    )
    verifier_distance_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=2.0,
        description=(
            "Cosine distance, 0 to 2, that ends the gray zone: a candidate between distance_threshold and this "
            "value is served only when the configured verifier accepts it. None turns the gray zone off."
        ),
    )
    ttl_s: int | None = Field(default=86_400, ge=1, description="Entry lifetime, seconds.")
    max_entries: int = Field(default=10_000, ge=1, description="In-memory entries per process.")
    candidates: int = Field(
        default=4, ge=1, le=100, description="Nearest entries checked by the guards before a lookup misses."
    )
    guards: list[str] = Field(
        default_factory=lambda: list(GUARD_NAMES),
        description="Hard-negative guards that must pass before a semantic hit is served.",
    )
    partition_by_user: bool = Field(
        default=False, description="Give every user their own cache partition inside the tenant."
    )
    redis_index: str = Field(default="mesh_cache", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

    @model_validator(mode="after")
    def _check(self) -> CacheSettings:
        unknown = sorted(set(self.guards) - set(GUARD_NAMES))
        if unknown:
            raise ValueError(f"unknown cache guards {unknown}: use any of {list(GUARD_NAMES)}")
        gray = self.verifier_distance_threshold
        if gray is not None and gray < self.distance_threshold:
            raise ValueError(
                f"verifier_distance_threshold {gray} is below distance_threshold {self.distance_threshold}: "
                "set it above, or to null to turn the gray zone off"
            )
        return self
