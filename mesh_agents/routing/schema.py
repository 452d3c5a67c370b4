"""Settings of routing."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["RoutingSettings", "TargetSettings"]


class TargetSettings(BaseModel):
    """A target declared in settings; ``model`` is a provider string for ``init_chat_model``."""

    model: str = Field(description="Provider string such as 'openai:gpt-4o-mini'.")
    provider: str | None = None
    context_window: int = Field(default=128_000, ge=1)
    capabilities: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    weight: float = Field(default=1.0, gt=0.0)


class RoutingSettings(BaseModel):
    """A tenant's routing policy."""

    targets: dict[str, TargetSettings] = Field(default_factory=dict)
    default_target: str | None = None
    max_retries: int = Field(default=2, ge=0, description="Retries per target before fallback.")
    backoff_base_s: float = Field(default=0.2, ge=0.0, description="First retry delay, seconds.")
    backoff_max_s: float = Field(default=5.0, ge=0.0, description="Longest retry delay, seconds.")
    timeout_s: float | None = Field(default=60.0, gt=0.0, description="Per-attempt timeout, seconds.")
