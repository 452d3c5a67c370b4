"""Settings of the redaction capability."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["RedactionSettings"]


class RedactionSettings(BaseModel):
    """A tenant's redaction policy."""

    enabled: bool = True
    detectors: list[Literal["patterns", "gliner"]] = Field(default_factory=lambda: ["patterns"])
    gliner_model: str = Field(
        default="urchade/gliner_multi_pii-v1",
        description="Hugging Face id or local folder of the GLiNER model.",
    )
    vault_ttl_s: int = Field(default=86_400, ge=1, description="Vault entry lifetime, seconds.")
    fail_open: bool = Field(default=False, description="Let the request through unmasked when detection fails.")
