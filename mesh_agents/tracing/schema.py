"""Settings of telemetry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TracingSettings"]


class TracingSettings(BaseModel):
    """What the mesh records in spans."""

    model_config = ConfigDict(extra="forbid")

    capture_content: bool = Field(
        default=False,
        description="Record redacted prompt and answer text in spans; off by default.",
    )
    max_content_chars: int = Field(
        default=4000,
        ge=1,
        description="Longest text part recorded when capture_content is on, in characters; longer parts are cut.",
    )
