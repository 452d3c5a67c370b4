"""Building blocks shared by ``Mesh`` and the LangGraph nodes that run its steps one by one.

They hold no policy: message text, request checks, the cache's PII fingerprint, the
model call as a pipeline effect, and the attributes of the inference span.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from mesh_agents._effects import Call
from mesh_agents.cache.base import CacheLookup
from mesh_agents.errors import GuardrailBlocked, InvalidInputError
from mesh_agents.guardrails.base import Action, GuardContext, GuardReport
from mesh_agents.redaction.base import Entity
from mesh_agents.routing.base import Attempt, Target
from mesh_agents.tracing import GenAI
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.types import MeshRequest, message_text

if TYPE_CHECKING:
    from mesh_agents.settings import MeshSettings

__all__ = [
    "answer_attributes",
    "attempt_attributes",
    "blocked_error",
    "cache_attributes",
    "guard_context",
    "message_text",
    "model_call",
    "model_name",
    "pii_fingerprint",
    "system_prompt",
    "validate_request",
]


def system_prompt(messages: Sequence[BaseMessage]) -> str | None:
    """Return the first system message's text, or None."""
    for message in messages:
        if isinstance(message, SystemMessage):
            return message_text(message)
    return None


def guard_context(request: MeshRequest) -> GuardContext:
    """Build the guardrail context of a request (tenant, agent, system prompt)."""
    return GuardContext(tenant=request.tenant, agent=request.agent, system_prompt=system_prompt(request.messages))


def validate_request(settings: MeshSettings, request: MeshRequest) -> None:
    """Raise InvalidInputError for an unknown tenant, an oversized or all-blank request, or unscreenable content."""
    settings.check_tenant(request.tenant)
    total = sum(len(message_text(message)) for message in request.messages)
    if total > settings.max_input_chars:
        raise InvalidInputError(
            f"request of {total} characters exceeds max_input_chars={settings.max_input_chars}; "
            "shorten the messages or raise max_input_chars in mesh.yaml",
            details={"chars": total, "max_input_chars": settings.max_input_chars},
        )
    for index, message in enumerate(request.messages):
        _check_content_blocks(index, message)
        text = message_text(message)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            # Only the position is named: the text around it may be personal data.
            raise InvalidInputError(
                f"message {index} contains an unpaired surrogate (U+{ord(text[exc.start]):04X}) at character "
                f"{exc.start}, which is not valid Unicode text; decode the input as UTF-8 before sending it",
                details={"message": index, "position": exc.start},
            ) from None
    if not any(message_text(message).strip() for message in request.messages):
        raise InvalidInputError("every message in the request is empty; send at least one non-empty message")


# Content blocks the mesh can screen and mask (text), or that carry no text (media).
_TEXT_BLOCKS = frozenset({"text"})
_MEDIA_BLOCKS = frozenset({"image", "image_url", "audio", "video", "file"})
_MESSAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _check_content_blocks(index: int, message: BaseMessage) -> None:
    """Reject content the guardrails and redaction cannot see, so nothing passes unscreened."""
    if message.name is not None and not _MESSAGE_NAME.match(message.name):
        raise InvalidInputError(
            f"message {index} has an invalid name: use 1 to 64 letters, digits, '_' or '-' "
            "(the name is sent to the model unscreened, so it must not carry personal data)",
            details={"message": index},
        )
    if isinstance(message.content, str):
        return
    for block in message.content:
        if isinstance(block, str):
            continue
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in _TEXT_BLOCKS or kind in _MEDIA_BLOCKS:
            continue
        raise InvalidInputError(
            f"message {index} has a content block of type {str(kind)[:40]!r}, which the guardrails and "
            "redaction cannot screen; send text as {'type': 'text', 'text': ...} blocks or a string, "
            "and tool calls in AIMessage.tool_calls",
            details={"message": index, "block_type": str(kind)[:40]},
        )


def blocked_error(report: GuardReport, stage: str) -> GuardrailBlocked:
    """Build the error for a blocking guardrail report; ``stage`` is ``"input"`` or ``"output"``."""
    verdict = next((v for v in report.verdicts if v.action is Action.BLOCK), None)
    reason = verdict.reason if verdict else "blocked"
    guardrail = verdict.guardrail if verdict else "unknown"
    return GuardrailBlocked(
        f"the {stage} guardrail {guardrail!r} blocked the request ({reason}); "
        "rephrase the request or ask the operator to review the guardrail policy",
        details={"stage": stage, "guardrail": guardrail, "reason": reason},
    )


def pii_fingerprint(tenant: str, entities: Sequence[Entity]) -> str:
    """Return a salted hash of the masked values, so cached answers about one person stay theirs."""
    if not entities:
        return ""
    digest = hashlib.sha256(tenant.encode())
    for label, value in sorted({(e.label, e.value) for e in entities}):
        digest.update(b"\0" + label.encode() + b"\0" + value.encode())
    return digest.hexdigest()[:32]


def cache_attributes(lookup: CacheLookup) -> dict[str, Any]:
    """Return the cache lookup span's attributes: hit, distance, threshold and the refusing guard."""
    attributes: dict[str, Any] = {
        MeshAttr.CACHE_HIT: lookup.hit,
        MeshAttr.CACHE_DISTANCE: float("nan") if lookup.distance is None else lookup.distance,
        MeshAttr.CACHE_THRESHOLD: float("nan") if lookup.threshold is None else lookup.threshold,
    }
    if lookup.refused_by:
        attributes[MeshAttr.CACHE_REFUSED_BY] = lookup.refused_by
    return attributes


def model_name(target: Target) -> str:
    """Return the provider's model name of a target, or the target name when unknown."""
    return target.model_name or target.name


def _bind(model: BaseChatModel, request: MeshRequest) -> Any:
    params = request.params
    if not params.tools:
        return model
    if params.tool_choice is not None:
        # Providers differ in what tool_choice accepts (a name, "any", or a dict), so it is passed through.
        options: dict[str, Any] = {"tool_choice": params.tool_choice}
        return model.bind_tools(params.tools, **options)
    return model.bind_tools(params.tools)


def _call_kwargs(request: MeshRequest) -> dict[str, Any]:
    params = request.params
    kwargs: dict[str, Any] = {}
    for name in ("temperature", "max_tokens", "top_p", "stop", "response_format"):
        value = getattr(params, name)
        if value is not None:
            kwargs[name] = value
    return kwargs


def model_call(attempt: Attempt, masked_request: MeshRequest) -> Call:
    """Return the effect that calls the attempt's model on the masked request.

    Tools from the request are bound first. The call is cancelled after
    ``attempt.timeout_s`` seconds with ``TimeoutError``, which the routing plan treats
    as retryable.
    """
    model = _bind(attempt.target.model, masked_request)
    return Call(
        model.invoke,
        (masked_request.messages,),
        _call_kwargs(masked_request),
        afn=model.ainvoke,
        blocking=True,
        timeout_s=attempt.timeout_s,
    )


def model_stream(attempt: Attempt, masked_request: MeshRequest) -> tuple[Any, dict[str, Any]]:
    """Return the bound model and call arguments for a streaming call."""
    return _bind(attempt.target.model, masked_request), _call_kwargs(masked_request)


def attempt_attributes(attempt: Attempt, request: MeshRequest) -> dict[str, Any]:
    """Return the inference span's request attributes for one attempt."""
    target = attempt.target
    return {
        GenAI.OPERATION_NAME: "chat",
        GenAI.PROVIDER_NAME: target.provider,
        GenAI.REQUEST_MODEL: model_name(target),
        GenAI.REQUEST_MAX_TOKENS: request.params.max_tokens,
        GenAI.REQUEST_TEMPERATURE: request.params.temperature,
        MeshAttr.ROUTE_TARGET: target.name,
        MeshAttr.ATTEMPT: attempt.number,
        MeshAttr.ATTEMPT_RETRY: attempt.retry,
        MeshAttr.ATTEMPT_FALLBACK: attempt.is_fallback,
    }


def answer_attributes(answer: AIMessage, target: Target) -> dict[str, Any]:
    """Return the inference span's response attributes (model, finish reason)."""
    metadata = answer.response_metadata or {}
    response_model = metadata.get("model_name") or metadata.get("model")
    attributes: dict[str, Any] = {GenAI.RESPONSE_MODEL: str(response_model) if response_model else model_name(target)}
    finish = metadata.get("finish_reason")
    if finish:
        attributes[GenAI.RESPONSE_FINISH_REASONS] = [str(finish)]
    return attributes
