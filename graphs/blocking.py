"""How a run that a mesh policy stopped ends: a state entry and a final message that says why."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage

from graphs.state import Blocked
from mesh_agents.errors import PolicyViolation

__all__ = ["blocked_info", "blocked_update"]

_STAGE_TITLES = {
    "guard_input": "the input guardrails",
    "redact": "the redaction policy",
    "model": "a budget",
    "guard_output": "the output guardrails",
}


def blocked_update(error: PolicyViolation, stage: str) -> dict[str, Any]:
    """Return the state update that ends a run stopped by ``error`` at ``stage``.

    The final answer quotes the error's safe message, which names the policy and what
    to do next but never the prompt text.
    """
    blocked = Blocked(stage=stage, code=error.code, message=error.safe_message, details=dict(error.details))
    text = f"Request blocked by {_STAGE_TITLES.get(stage, stage)}: {error.safe_message}"
    answer = AIMessage(content=text, response_metadata={"mesh_blocked": dict(blocked)})
    return {"blocked": blocked, "answer": answer}


def blocked_info(message: Any) -> dict[str, Any] | None:
    """Return why a mesh policy blocked the turn that produced ``message``, or None."""
    if isinstance(message, AIMessage):
        info = message.response_metadata.get("mesh_blocked")
        if isinstance(info, dict):
            return info
    return None
