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

    @property
    def severity(self) -> int:
        """Rank used to merge verdicts: allow 0, flag 1, rewrite 2, block 3."""
        return _SEVERITY[self]


_SEVERITY = {Action.ALLOW: 0, Action.FLAG: 1, Action.REWRITE: 2, Action.BLOCK: 3}


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
        source: Where the text came from; the engine fills it in.
        policy_id: Policy that applied; the engine fills it in.
    """

    action: Action
    guardrail: str
    score: float = 0.0
    reason: str = ""
    spans: tuple[tuple[int, int], ...] = field(default=())
    rewritten: str | None = None
    source: Source | None = None
    policy_id: str | None = None


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
        elapsed_ms: Wall time of the check, milliseconds.
    """

    action: Action
    verdicts: list[Verdict] = field(default_factory=list)
    text: str | None = None
    elapsed_ms: float = 0.0

    @property
    def blocked(self) -> bool:
        return self.action is Action.BLOCK

    @property
    def reasons(self) -> list[str]:
        """Reasons of the verdicts that are not a plain allow, most severe first."""
        ordered = sorted(self.verdicts, key=lambda verdict: -verdict.action.severity)
        return [verdict.reason for verdict in ordered if verdict.action is not Action.ALLOW]

    @property
    def message(self) -> str:
        """A message for the agent that explains a block or a rewrite; never the offending text."""
        if self.action is Action.BLOCK:
            verdict = next(v for v in self.verdicts if v.action is Action.BLOCK)
            where = f" in {verdict.source.value}" if verdict.source else ""
            return (
                f"Blocked by guardrail {verdict.guardrail!r}{where} ({verdict.reason}). "
                "The text was not passed to the model; rephrase the request or ask the operator to review the policy."
            )
        if self.action is Action.REWRITE:
            return "Part of the text was removed by a guardrail before the model read it."
        if self.action is Action.FLAG:
            return "The text was flagged by a guardrail and passed on."
        return ""

    @classmethod
    def merge(cls, reports: list[GuardReport]) -> GuardReport:
        """Combine the reports of several texts into one: the most severe action wins."""
        verdicts = [verdict for report in reports for verdict in report.verdicts]
        action = max((report.action for report in reports), key=lambda a: a.severity, default=Action.ALLOW)
        elapsed = sum(report.elapsed_ms for report in reports)
        return cls(action=action, verdicts=verdicts, text=None, elapsed_ms=elapsed)
