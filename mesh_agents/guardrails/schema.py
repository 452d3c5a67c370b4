"""Settings of the guardrails: one policy per tenant, nested in ``MeshSettings.guardrails``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ArgumentRule",
    "ClassifierSettings",
    "GuardrailSettings",
    "InjectionSettings",
    "OutputSettings",
    "SecretSettings",
    "ToolCallSettings",
]

ActionName = Literal["allow", "flag", "rewrite", "block"]


class ClassifierSettings(BaseModel):
    """The learned injection classifier that runs next to the rules."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    weights: str | None = Field(
        default=None,
        description="Path of a linear-head .npz file; None uses the head shipped in the package.",
    )
    block_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "Probability at or above which the classifier alone blocks; None uses the value stored with the head."
        ),
    )
    transformer_model: str | None = Field(
        default=None,
        description=(
            "Local folder of a Hugging Face sequence-classification model for injection "
            "(for example a Prompt Guard or DeBERTa injection model); None leaves it off."
        ),
    )
    transformer_threshold: float = Field(default=0.9, ge=0.0, le=1.0, description="Probability that blocks.")
    window_chars: int | None = Field(
        default=None, ge=100, description="Characters per embedded window of a long text; None uses the head's."
    )
    window_stride: int | None = Field(
        default=None, ge=50, description="Characters between the starts of two windows; None uses the head's."
    )
    max_windows: int = Field(
        default=8, ge=1, description="Most windows embedded per text; longer texts are sampled evenly."
    )


class InjectionSettings(BaseModel):
    """Prompt-injection and jailbreak detection on text entering a model's context."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    rule_threshold: float = Field(
        default=0.75, ge=0.0, le=1.0, description="Rule score at or above which text is an injection."
    )
    action_user: ActionName = Field(default="block", description="Action on an injection in a user prompt.")
    action_tool_result: ActionName = Field(
        default="rewrite",
        description=(
            "Action on an injection inside a tool result or document: rewrite strips the offending "
            "spans and marks the text as stripped; it becomes block when no span can be located."
        ),
    )
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    max_decoded_blobs: int = Field(default=16, ge=0, description="Base64 or hex blobs decoded and rescanned per text.")


class SecretSettings(BaseModel):
    """Secret detection (API keys, tokens, private keys, passwords in URLs)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    action_input: ActionName = Field(
        default="rewrite", description="Action on a secret in user text or a tool result: rewrite masks it."
    )
    action_output: ActionName = Field(default="block", description="Action on a secret in model output.")
    action_tool_args: ActionName = Field(default="block", description="Action on a secret in tool-call arguments.")
    min_entropy: float = Field(
        default=3.0, ge=0.0, description="Shannon entropy, bits per character, a generic 'key=value' secret needs."
    )


class OutputSettings(BaseModel):
    """Checks on model output before it reaches the user or a tool."""

    model_config = ConfigDict(extra="forbid")

    forbidden_pii: list[str] = Field(
        default_factory=list,
        description=(
            "Entity labels that must not appear in answers, as placeholders (<LABEL_n>) or as raw values "
            "(EMAIL, PHONE, CREDIT_CARD, IBAN, IP_ADDRESS)."
        ),
    )
    pii_action: ActionName = "block"
    system_prompt_leak: bool = Field(default=True, description="Block answers that echo the system prompt.")
    leak_min_line_chars: int = Field(
        default=24, ge=8, description="Shortest system-prompt line, in characters, that counts as distinctive."
    )
    leak_overlap: float = Field(
        default=0.3,
        gt=0.0,
        le=1.0,
        description="Share of the system prompt's 8-word shingles found in the answer that counts as a leak.",
    )
    canaries: list[str] = Field(
        default_factory=list, description="Canary strings planted in the system prompt; any echo is a leak."
    )
    url_action: ActionName = "block"


class ArgumentRule(BaseModel):
    """A pattern that a tool argument must not match (or must match, with ``require``).

    Attributes:
        tool: Tool name, or ``*`` for every tool.
        argument: Argument name, or ``*`` for every string argument (nested ones included).
        pattern: Regular expression, searched case-insensitively.
        require: When true the argument must match the pattern instead of avoiding it.
        reason: Machine-friendly reason reported on a block.
    """

    model_config = ConfigDict(extra="forbid")

    tool: str = "*"
    argument: str = "*"
    pattern: str
    require: bool = False
    reason: str = "argument_pattern"

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}; fix the pattern") from exc
        return value


def _default_argument_rules() -> list[ArgumentRule]:
    return [
        ArgumentRule(pattern=r"\brm\s+-[a-z]*r[a-z]*f?\s+/(?:\s|$|[a-z])", reason="destructive_command"),
        ArgumentRule(pattern=r"\b(?:curl|wget)\b[^|\n]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b", reason="remote_script"),
        ArgumentRule(pattern=r"\bmkfs(?:\.\w+)?\s+/dev/", reason="destructive_command"),
        ArgumentRule(pattern=r"\bdrop\s+database\b", reason="destructive_command"),
    ]


class ToolCallSettings(BaseModel):
    """Checks on a tool call before the tool runs."""

    model_config = ConfigDict(extra="forbid")

    allowed_tools: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Tools each agent may call, by agent name; '*' as a key applies to every agent. Empty allows all.",
    )
    argument_rules: list[ArgumentRule] = Field(default_factory=_default_argument_rules)


class GuardrailSettings(BaseModel):
    """A tenant's guardrail policy."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    policy_id: str = "default"
    timeout_s: float = Field(default=2.0, gt=0.0, description="Time budget for all guardrails on one text, seconds.")
    fail_open: bool = Field(default=False, description="Allow the text when a guardrail errors or times out.")
    max_workers: int = Field(default=4, ge=1, description="Threads that run guardrails in parallel.")
    allowed_domains: list[str] | None = Field(
        default=None,
        description=(
            "Hosts that URLs in answers and tool-call destinations may point to; a sub-domain of a listed "
            "host matches. None leaves links unchecked, but markdown images that carry data in their query "
            "string are still blocked."
        ),
    )
    injection: InjectionSettings = Field(default_factory=InjectionSettings)
    secrets: SecretSettings = Field(default_factory=SecretSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    tools: ToolCallSettings = Field(default_factory=ToolCallSettings)

    @field_validator("allowed_domains")
    @classmethod
    def _lower_domains(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [domain.strip().lower().lstrip(".") for domain in value if domain.strip()]
