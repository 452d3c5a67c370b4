"""Settings of the guardrails."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["GuardrailSettings"]


class GuardrailSettings(BaseModel):
    """A tenant's guardrail policy."""

    enabled: bool = True
    policy_id: str = "default"
    timeout_s: float = Field(default=2.0, gt=0.0, description="Time budget for all guardrails, seconds.")
    fail_open: bool = Field(default=False, description="Allow the text when a guardrail errors or times out.")
