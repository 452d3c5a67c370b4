"""Opt-in recording of redacted prompts and answers on a model call's span.

With ``tracing.capture_content`` on, the ``chat`` span gets ``gen_ai.input.messages``
and ``gen_ai.output.messages``, JSON in the GenAI conventions' message form
(``[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]``). Callers pass
the masked messages, the ones the model saw, so personal data appears only as
placeholders such as ``<EMAIL_1>``. With the setting off nothing is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from mesh_agents.tracing.schema import TracingSettings

__all__ = ["INPUT_MESSAGES", "OUTPUT_MESSAGES", "record_content"]

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def record_content(
    span: Any,
    settings: TracingSettings,
    *,
    input_messages: Sequence[BaseMessage] | None = None,
    output: BaseMessage | None = None,
) -> None:
    """Record the masked messages on ``span`` when ``settings.capture_content`` is on.

    Args:
        span: The model call's span.
        settings: The mesh's tracing settings.
        input_messages: The masked messages sent to the model.
        output: The masked answer, before placeholders are restored.
    """
    if not settings.capture_content or not span.is_recording():
        return
    limit = settings.max_content_chars
    if input_messages is not None:
        span.set_attribute(INPUT_MESSAGES, json.dumps([_message(m, limit) for m in input_messages], ensure_ascii=False))
    if output is not None:
        answer = _message(output, limit)
        finish = output.response_metadata.get("finish_reason") if isinstance(output, AIMessage) else None
        if finish:
            answer["finish_reason"] = str(finish)
        span.set_attribute(OUTPUT_MESSAGES, json.dumps([answer], ensure_ascii=False))


def _message(message: BaseMessage, limit: int) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    text = str(message.text)
    if text:
        parts.append({"type": "text", "content": _cut(text, limit)})
    if isinstance(message, AIMessage):
        for call in message.tool_calls:
            arguments = _cut(json.dumps(call.get("args", {}), ensure_ascii=False), limit)
            parts.append({"type": "tool_call", "id": call.get("id"), "name": call["name"], "arguments": arguments})
    if isinstance(message, ToolMessage):
        parts = [{"type": "tool_call_response", "id": message.tool_call_id, "response": _cut(text, limit)}]
    return {"role": _ROLES.get(message.type, message.type), "parts": parts}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
