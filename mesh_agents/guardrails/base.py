"""Contracts of the guardrails: the verdict and the guardrail plug point."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from mesh_agents.types import Source

__all__ = ["Action", "GuardContext", "GuardReport", "Guardrail", "Verdict"]


class Action(enum.StrEnum):
    """A guardrail's decision, in increasing order of severity for merging."""

    ALLOW = "allow"
    FLAG = "flag"
    REWRITE = "rewrite"
    BLOCK = "block"


@dataclass(frozen=True)
class GuardContext:
    """Who the text belongs to and what the guardrail may compare it with.

    Attributes:
        tenant: Tenant whose guardrail policy applies.
        agent: Agent that will read or wrote the text.
        system_prompt: The system prompt, for leakage checks on model output.
        tool_name: Tool whose arguments or result the text is.
    """

    tenant: str
    agent: str | None = None
    system_prompt: str | None = None
    tool_name: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A guardrail's decision on one text.

    Attributes:
        action: allow, flag, rewrite or block.
        guardrail: Name of the guardrail (rule set or model) that decided.
        score: Confidence, 0 to 1.
        reason: Short machine-friendly reason such as ``"instruction_override"``;
            never the offending text.
        spans: ``(start, end)`` offsets of the text that triggered the verdict.
        rewritten: The text with offending spans stripped, for ``rewrite``.
    """

    action: Action
    guardrail: str
    score: float = 0.0
    reason: str = ""
    spans: tuple[tuple[int, int], ...] = field(default=())
    rewritten: str | None = None


@runtime_checkable
class Guardrail(Protocol):
    """Screens one text from a known source."""

    name: str

    def check(self, text: str, source: Source, context: GuardContext) -> Verdict:
        """Return the verdict on ``text``."""
        ...


@dataclass
class GuardReport:
    """The merged outcome of every guardrail that screened one text or message list.

    Attributes:
        action: The most severe action among the verdicts (block wins).
        verdicts: Every verdict that is not a plain allow, plus errors and timeouts.
        text: The text to pass on: rewritten when a guardrail stripped a span, else
            the original.
    """

    action: Action
    verdicts: list[Verdict] = field(default_factory=list)
    text: str | None = None

    @property
    def blocked(self) -> bool:
        return self.action is Action.BLOCK
