"""The typed state that the mesh graph's nodes read and write.

One invocation of the mesh graph carries one ``MeshRequest`` through the steps. Each
key is written by one node (named in its description) and read by later ones; LangGraph
keeps the last value written. Only ``request`` is required as input.
"""

from __future__ import annotations

from typing import Any, NotRequired, Required, TypedDict

from langchain_core.messages import AIMessage, BaseMessage

from mesh_agents.cache.base import CacheLookup, CacheScope
from mesh_agents.guardrails.base import Verdict
from mesh_agents.redaction.base import Entity
from mesh_agents.routing.base import RouteDecision, Target
from mesh_agents.types import MeshRequest
from mesh_agents.usage.base import Reservation, UsageRecord

__all__ = ["Blocked", "MeshState"]


class Blocked(TypedDict):
    """The reason a run ended early.

    Attributes:
        stage: Step that stopped it: ``guard_input``, ``redact``, ``model`` (a budget),
            or ``guard_output``.
        code: The error's stable code, such as ``"guardrail_blocked"`` or ``"budget_exceeded"``.
        message: The error's safe message, which carries no prompt text or personal data.
        details: The error's details (guardrail, reason, budget, limit).
    """

    stage: str
    code: str
    message: str
    details: dict[str, Any]


class MeshState(TypedDict, total=False):
    """State of one request in the mesh graph."""

    request: Required[MeshRequest]
    """The request as it entered the graph (input)."""
    session: str
    """Vault session: the request's session, else its run id, else a fresh one (guard_input)."""
    messages: list[BaseMessage]
    """Input messages after the input guardrails, rewritten where a guardrail stripped a span (guard_input)."""
    masked_request: MeshRequest
    """The request with personal data replaced by placeholders (redact)."""
    entities: list[Entity]
    """Entities masked in the input (redact)."""
    scope: CacheScope
    """Cache scope of the masked request (cache_lookup)."""
    lookup: CacheLookup
    """Outcome of the cache lookup; a miss when the cache is bypassed (cache_lookup)."""
    decision: RouteDecision
    """Ranked targets and why (route)."""
    target: Target
    """Target that produced the answer (model node)."""
    reservation: Reservation
    """Budget held by the successful attempt, settled by the usage node (model node)."""
    attempts: int
    """Model calls made, retries and fallbacks included (model node)."""
    failed_attempts: list[dict[str, str]]
    """Target name and error class of each failed attempt (model node)."""
    masked_answer: AIMessage
    """The model's or the cache's answer, placeholders still in it (model node or cache_lookup)."""
    usage: UsageRecord
    """Ledger record of the call, or of the cache read (usage)."""
    verdicts: list[Verdict]
    """Guardrail verdicts that were not a plain allow, input and output (guard_input, guard_output)."""
    answer: AIMessage
    """Final answer: restored (restore), or the message that explains a block."""
    entities_restored: int
    """Placeholders put back in the answer (restore)."""
    blocked: NotRequired[Blocked]
    """Set when a policy stopped the run; the run then ends with ``answer`` explaining why."""
