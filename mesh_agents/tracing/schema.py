"""Settings of telemetry."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["TracingSettings"]


class TracingSettings(BaseModel):
    """What the mesh records in spans."""

    capture_content: bool = Field(
        default=False,
        description="Record redacted prompt and answer text in spans; off by default.",
    )
