"""Request and result types shared by every capability.

The vocabulary follows the project glossary: a *tenant* owns policies, budgets, cache
and vault; *user*, *agent*, *session* and *run* say who asked and where; a *target* is
a model or service the router can pick.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CacheControl",
    "MeshRequest",
    "MeshResult",
    "ModelParams",
    "Source",
    "message_text",
    "validate_identifier",
]

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


def validate_identifier(kind: str, value: str) -> str:
    """Check a tenant, user, agent, session or run id and return it.

    Ids become parts of store keys and span attributes, so they are limited to
    1 to 128 letters, digits and ``_ . : @ -``, starting with a letter or digit.
    """
    if not _IDENTIFIER.match(value):
        # The value is shown because ids are chosen by the operator and are not personal data.
        # It is truncated, so an accidental prompt pasted here cannot flood the log.
        shown = value[:40] + ("..." if len(value) > 40 else "")
        raise ValueError(
            f"invalid {kind} id {shown!r}: use 1 to 128 letters, digits or '_.:@-', starting with a letter or digit"
        )
    return value


def message_text(message: BaseMessage) -> str:
    """Return the text of a message, joining the text blocks of multi-part content."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


class Source(enum.StrEnum):
    """Origin of a text that enters or leaves a model's context."""

    USER = "user"
    SYSTEM = "system"
    TOOL_RESULT = "tool_result"
    TOOL_ARGS = "tool_args"
    DOCUMENT = "document"
    MODEL_OUTPUT = "model_output"


class CacheControl(enum.StrEnum):
    """Per-request cache behaviour."""

    DEFAULT = "default"
    NO_CACHE = "no-cache"
    """Neither read nor write the cache."""
    FORCE_REFRESH = "force-refresh"
    """Skip the lookup, call the model, and overwrite the cached answer."""


class ModelParams(BaseModel):
    """Model parameters that travel with a request and can change its answer."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, description="Output token cap.")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: list[str] | None = None
    tools: list[dict[str, Any]] = Field(
        default_factory=list, description="Tool definitions in OpenAI JSON-schema form."
    )
    response_format: dict[str, Any] | str | None = None
    tool_choice: dict[str, Any] | str | None = Field(
        default=None, description="'auto', 'any', 'none', a tool name, or a provider's tool_choice object."
    )


class MeshRequest(BaseModel):
    """One model request as it enters the mesh."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    messages: list[BaseMessage] = Field(min_length=1)
    tenant: str
    user: str | None = None
    agent: str | None = None
    session: str | None = None
    run_id: str | None = None
    model: str | None = Field(default=None, description="Target name to use; None lets the router choose.")
    params: ModelParams = Field(default_factory=ModelParams)
    cache_control: CacheControl = CacheControl.DEFAULT
    tags: list[str] = Field(default_factory=list)

    @field_validator("tenant")
    @classmethod
    def _check_tenant(cls, value: str) -> str:
        return validate_identifier("tenant", value)

    @field_validator("user", "agent", "session", "run_id")
    @classmethod
    def _check_optional_ids(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        return validate_identifier(info.field_name, value)


@dataclass
class MeshResult:
    """What one pass of the pipeline produced.

    Attributes:
        message: The answer with placeholders restored to the original values.
        target: Name of the target that answered, or of the one whose cached answer
            was served.
        cache_hit: Whether the answer came from the semantic cache.
        entities_masked: Entities replaced by placeholders before the model call.
        entities_restored: Placeholders put back in the answer.
        details: Per-step facts for reports (route explanation, usage record,
            guardrail verdicts, cache distance). Never raw prompt text.
    """

    message: AIMessage
    target: str | None
    cache_hit: bool = False
    entities_masked: int = 0
    entities_restored: int = 0
    details: dict[str, Any] = field(default_factory=dict)
