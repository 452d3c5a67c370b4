"""Settings of the semantic cache."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["CacheSettings"]


class CacheSettings(BaseModel):
    """A tenant's cache policy."""

    enabled: bool = True
    distance_threshold: float = Field(
        default=0.1, ge=0.0, le=2.0, description="Cosine distance, 0 to 2, for a semantic hit."
    )
    ttl_s: int | None = Field(default=86_400, ge=1, description="Entry lifetime, seconds.")
    max_entries: int = Field(default=10_000, ge=1, description="In-memory entries per process.")
