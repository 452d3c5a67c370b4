"""The redaction facade: mask personal data before it reaches a model, restore it in the output.

``Redactor`` applies the tenant's redaction policy (``settings.for_tenant(t).redaction``)
on every call: it runs the detectors, merges their entities, applies the action of
each label, and keeps reversible placeholders in a vault per tenant and session.
It masks plain text, nested JSON (tool-call arguments and results) and LangChain
messages, and restores the same, including a stream of chunks.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage

from mesh_agents.errors import ConfigurationError, InvalidInputError, MeshError, RedactionBlocked
from mesh_agents.redaction.base import BatchDetector, Detector, Entity, MaskResult, Vault
from mesh_agents.redaction.memory import MemoryVault
from mesh_agents.redaction.placeholders import (
    PLACEHOLDER,
    Lookup,
    StreamRestorer,
    json_escape,
    restore_placeholders,
)
from mesh_agents.redaction.schema import RedactionAction, RedactionSettings
from mesh_agents.redaction.spans import merge_entities
from mesh_agents.tracing import step_span
from mesh_agents.types import validate_identifier

if TYPE_CHECKING:
    from mesh_agents.settings import MeshSettings

__all__ = ["Redactor", "StreamRestorer"]

logger = logging.getLogger(__name__)

# Span attributes of the detection step.
ATTR_DETECTORS = "mesh.redaction.detectors"
ATTR_ENTITIES = "mesh.redaction.entities"
ATTR_FAILURE = "mesh.redaction.detection_failure"
ATTR_FAIL_OPEN = "mesh.redaction.fail_open"

# Label under which a placeholder-shaped string already in the input is kept, so that
# restoring gives back exactly that string instead of some other session value.
_LITERAL_LABEL = "placeholder"

_executor_lock = threading.Lock()
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _detection_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="mesh-redaction")
        return _executor


@dataclass
class _Replacement:
    start: int
    end: int
    text: str


class Redactor:
    """Masks and restores personal data under each tenant's redaction policy.

    Args:
        settings: Mesh settings; the policy of a call is ``settings.for_tenant(tenant).redaction``.
        vault: Where placeholders are kept. Defaults to a ``RedisVault`` when
            ``settings.redis_url`` is set, else a ``MemoryVault``.
        detectors: Detectors to use for every tenant instead of those the policy names.

    Raises (from every masking method):
        RedactionBlocked: an entity's label has the ``block`` action, or detection
            raised or timed out and the policy does not fail open.
        InvalidInputError: the tenant, session or text is malformed.
    """

    def __init__(
        self,
        settings: MeshSettings,
        *,
        vault: Vault | None = None,
        detectors: Sequence[Detector] | None = None,
    ) -> None:
        self.settings = settings
        if vault is None:
            ttl_s = settings.redaction.vault_ttl_s
            if settings.redis_url:
                from mesh_agents.redaction.redis import RedisVault

                vault = RedisVault(settings.redis_url, ttl_s=ttl_s)
            else:
                vault = MemoryVault(ttl_s=ttl_s)
        self.vault: Vault = vault
        self._fixed_detectors = list(detectors) if detectors is not None else None
        self._detectors: dict[str, list[Detector]] = {}
        self._lock = threading.Lock()

    # Masking.

    def mask_text(self, text: str, *, tenant: str, session: str) -> MaskResult:
        """Replace the personal data in ``text`` according to the tenant's policy."""
        return self._mask_texts([_check_text(text)], tenant, session)[0]

    def mask_json(self, value: Any, *, tenant: str, session: str) -> tuple[Any, list[Entity]]:
        """Mask every string inside nested dicts, lists and tuples (tool arguments or results).

        Keys, numbers, booleans and None are kept as they are. Returns a new structure.
        """
        strings: list[str] = []
        _collect_strings(value, strings)
        results = self._mask_texts(strings, tenant, session)
        masked = _replace_strings(value, iter(result.text for result in results))
        return masked, [entity for result in results for entity in result.entities]

    def mask_messages(
        self, messages: Sequence[BaseMessage], *, tenant: str, session: str
    ) -> tuple[list[BaseMessage], list[Entity]]:
        """Mask the text of every message and the arguments of AI tool calls.

        Returns new message objects; the inputs are not changed. All texts go through
        the detectors in one batch.
        """
        strings: list[str] = []
        for message in messages:
            _collect_message_strings(message, strings)
        results = self._mask_texts(strings, tenant, session)
        replacements = iter(result.text for result in results)
        masked = [_rebuild_message(message, replacements) for message in messages]
        return masked, [entity for result in results for entity in result.entities]

    # Restoring.

    def restore_text(self, text: str, *, tenant: str, session: str) -> tuple[str, int]:
        """Put the values back in place of known placeholders; return the text and how many."""
        return restore_placeholders(_check_text(text), self._lookup(tenant, session))

    def restore_json(self, value: Any, *, tenant: str, session: str) -> tuple[Any, int]:
        """Restore placeholders in every string of a nested structure; returns a new one."""
        lookup = self._lookup(tenant, session)
        strings: list[str] = []
        _collect_strings(value, strings)
        count = 0
        restored_strings = []
        for string in strings:
            restored, n = restore_placeholders(string, lookup)
            restored_strings.append(restored)
            count += n
        return _replace_strings(value, iter(restored_strings)), count

    def restore_message(self, message: BaseMessage, *, tenant: str, session: str) -> tuple[BaseMessage, int]:
        """Restore an ``AIMessage`` (content and tool-call arguments), ``AIMessageChunk`` or ``ToolMessage``.

        Returns a new message and the number of placeholders restored.
        """
        lookup = self._lookup(tenant, session)
        strings: list[str] = []
        raw_json: list[bool] = []
        _collect_message_strings(message, strings, raw_json)
        count = 0
        restored_strings = []
        for string, is_json in zip(strings, raw_json, strict=True):
            restored, n = restore_placeholders(string, lookup, escape=json_escape if is_json else None)
            restored_strings.append(restored)
            count += n
        return _rebuild_message(message, iter(restored_strings)), count

    def stream_restorer(self, *, tenant: str, session: str, json_strings: bool = False) -> StreamRestorer:
        """Return a restorer for one streamed response: ``feed`` each chunk, then ``flush``.

        With ``json_strings`` the stream is raw JSON (streamed tool-call arguments) and
        values are escaped so that a quote or backslash in a value keeps the JSON valid.
        """
        return StreamRestorer(self._lookup(tenant, session), escape=json_escape if json_strings else None)

    # Detection.

    def policy(self, tenant: str) -> RedactionSettings:
        """Return the redaction policy of ``tenant``."""
        return self.settings.for_tenant(tenant).redaction

    def detect(self, texts: Sequence[str], *, tenant: str) -> list[list[Entity]]:
        """Return the entities of each text under the tenant's policy, without masking.

        Raises:
            RedactionBlocked: detection raised or timed out and the policy does not fail open.
        """
        policy = self.policy(tenant)
        found = self._run_detectors(list(texts), policy, tenant)
        return [self._apply_policy(text, entities, policy) for text, entities in zip(texts, found, strict=True)]

    def detectors_for(self, policy: RedactionSettings) -> list[Detector]:
        """Return the detectors a policy names, built once and reused."""
        if self._fixed_detectors is not None:
            return self._fixed_detectors
        key = policy.model_dump_json(include={"detectors", "phone_regions", "national_ids", "gliner"})
        with self._lock:
            detectors = self._detectors.get(key)
            if detectors is None:
                detectors = _build_detectors(policy)
                self._detectors[key] = detectors
            return detectors

    # The masking core.

    def _mask_texts(self, texts: list[str], tenant: str, session: str) -> list[MaskResult]:
        _check_ids(tenant, session)
        self._check_size(texts)
        policy = self.policy(tenant)
        if not policy.enabled or not any(texts):
            return [MaskResult(text=text, entities=[], placeholders=[]) for text in texts]

        found = self._run_detectors(texts, policy, tenant)
        per_text = [self._apply_policy(text, entities, policy) for text, entities in zip(texts, found, strict=True)]
        for entities in per_text:
            for entity in entities:
                if policy.action_for(entity.label) is RedactionAction.BLOCK:
                    raise RedactionBlocked(
                        f"the redaction policy of tenant {tenant!r} blocks requests that contain {entity.label!r}; "
                        f"remove the {entity.label} from the request or change the action for {entity.label!r}",
                        details={"tenant": tenant, "label": entity.label},
                    )

        # Placeholder-shaped strings already in the text are kept under their own
        # placeholder unless they are this session's, so restoring is exact.
        literals = [_literal_placeholders(text, entities) for text, entities in zip(texts, per_text, strict=True)]
        candidates = {span_text for spans in literals for _, _, span_text in spans}
        known = self.vault.values_for(tenant, session, candidates, ttl_s=policy.vault_ttl_s) if candidates else {}

        # One vault call for every placeholder of every text.
        vault_items: list[tuple[str, str]] = []
        for entities, spans in zip(per_text, literals, strict=True):
            vault_items += [(e.label, e.value) for e in entities if policy.action_for(e.label) is RedactionAction.MASK]
            vault_items += [(_LITERAL_LABEL, span_text) for _, _, span_text in spans if span_text not in known]
        placeholders = iter(
            self.vault.placeholders_for(tenant, session, vault_items, ttl_s=policy.vault_ttl_s) if vault_items else []
        )

        results = []
        hash_key = _hash_key(policy, tenant)
        for text, entities, spans in zip(texts, per_text, literals, strict=True):
            replacements: list[_Replacement] = []
            entity_placeholders: list[str | None] = []
            for entity in entities:
                action = policy.action_for(entity.label)
                tag = entity.label.upper()
                if action is RedactionAction.MASK:
                    placeholder = next(placeholders)
                    entity_placeholders.append(placeholder)
                    replacements.append(_Replacement(entity.start, entity.end, placeholder))
                elif action is RedactionAction.HASH:
                    digest = hmac.new(hash_key, entity.value.encode(), hashlib.sha256).hexdigest()[:12]
                    entity_placeholders.append(None)
                    replacements.append(_Replacement(entity.start, entity.end, f"[{tag}:{digest}]"))
                else:
                    entity_placeholders.append(None)
                    replacements.append(_Replacement(entity.start, entity.end, f"[{tag}]"))
            for start, end, span_text in spans:
                if span_text not in known:
                    replacements.append(_Replacement(start, end, next(placeholders)))
            results.append(MaskResult(_apply(text, replacements), entities, entity_placeholders))
        return results

    def _run_detectors(self, texts: list[str], policy: RedactionSettings, tenant: str) -> list[list[Entity]]:
        """Run every detector over every text, within the policy's timeout.

        Returns each text's entities unmerged. When detection fails and the policy
        fails open, returns no entities; otherwise raises ``RedactionBlocked``.
        """
        detectors = self.detectors_for(policy)
        attributes = {ATTR_DETECTORS: [d.name for d in detectors]}
        with step_span("mesh.redaction.detect", attributes=attributes) as span:
            try:
                if policy.detection_timeout_s is None:
                    found = _detect_all(detectors, texts, policy.labels)
                else:
                    future = _detection_executor().submit(_detect_all, detectors, texts, policy.labels)
                    try:
                        found = future.result(timeout=policy.detection_timeout_s)
                    except concurrent.futures.TimeoutError:
                        # NOTE: the detector thread cannot be stopped; it finishes in the background.
                        future.cancel()
                        raise TimeoutError(f"detection took longer than {policy.detection_timeout_s} s") from None
            except MeshError as exc:
                # A missing extra or a bad model path is a setup error that fail_open must not hide.
                if isinstance(exc, RedactionBlocked | ConfigurationError) or not policy.fail_open:
                    span.set_attribute(ATTR_FAILURE, type(exc).__name__)
                    span.set_attribute(ATTR_FAIL_OPEN, False)
                    raise
                return self._fail_open(texts, exc, span, tenant)
            except Exception as exc:
                failure = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
                span.set_attribute(ATTR_FAILURE, failure)
                span.set_attribute(ATTR_FAIL_OPEN, policy.fail_open)
                if policy.fail_open:
                    return self._fail_open(texts, exc, span, tenant)
                logger.error("PII detection failed, request blocked: tenant=%s failure=%s", tenant, failure)
                raise RedactionBlocked(
                    f"PII detection failed ({failure}) for tenant {tenant!r}, so the request was blocked "
                    "because the redaction policy fails closed; retry, raise detection_timeout_s, "
                    "or set fail_open in the tenant's redaction policy",
                    details={"tenant": tenant, "failure": failure},
                ) from exc
            span.set_attribute(ATTR_ENTITIES, sum(len(entities) for entities in found))
            return found

    def _fail_open(self, texts: list[str], exc: Exception, span: Any, tenant: str) -> list[list[Entity]]:
        failure = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        span.set_attribute(ATTR_FAILURE, failure)
        span.set_attribute(ATTR_FAIL_OPEN, True)
        logger.warning("PII detection failed, text passed unmasked (fail_open): tenant=%s failure=%s", tenant, failure)
        return [[] for _ in texts]

    def _apply_policy(self, text: str, entities: list[Entity], policy: RedactionSettings) -> list[Entity]:
        """Drop entities the policy does not cover or allows, then remove overlaps."""
        allowed = {value.casefold() for value in policy.allow_list}
        patterns = [re.compile(pattern) for pattern in policy.allow_patterns]
        labels = set(policy.labels) if policy.labels is not None else None
        kept = []
        for entity in entities:
            if labels is not None and entity.label not in labels:
                continue
            if not (0 <= entity.start < entity.end <= len(text)):
                logger.warning("detector %s returned an entity outside the text; ignored", entity.detector)
                continue
            value = entity.value or text[entity.start : entity.end]
            if value.casefold() in allowed or any(p.fullmatch(value) for p in patterns):
                continue
            kept.append(entity)
        return merge_entities(kept)

    def _lookup(self, tenant: str, session: str) -> Lookup:
        _check_ids(tenant, session)
        ttl_s = self.policy(tenant).vault_ttl_s
        vault = self.vault

        def lookup(placeholders: Iterable[str]) -> dict[str, str]:
            return vault.values_for(tenant, session, placeholders, ttl_s=ttl_s)

        return lookup

    def _check_size(self, texts: list[str]) -> None:
        total = sum(len(text) for text in texts)
        if total > self.settings.max_input_chars:
            raise InvalidInputError(
                f"text of {total} characters exceeds max_input_chars={self.settings.max_input_chars}; "
                "split the text or raise max_input_chars in mesh.yaml",
                details={"chars": total, "max_input_chars": self.settings.max_input_chars},
            )


# Detection helpers.


def _build_detectors(policy: RedactionSettings) -> list[Detector]:
    detectors: list[Detector] = []
    if "patterns" in policy.detectors:
        from mesh_agents.redaction.national_ids import KINDS
        from mesh_agents.redaction.patterns import PatternDetector

        kinds = KINDS if policy.national_ids is None else tuple(k for k in KINDS if k.name in policy.national_ids)
        detectors.append(PatternDetector(phone_regions=policy.phone_regions, national_ids=kinds))
    if "gliner" in policy.detectors:
        from mesh_agents.redaction.gliner import GlinerDetector

        detectors.append(GlinerDetector(policy.gliner))
    return detectors


def _detect_all(detectors: Sequence[Detector], texts: list[str], labels: Sequence[str] | None) -> list[list[Entity]]:
    found: list[list[Entity]] = [[] for _ in texts]
    indexes = [i for i, text in enumerate(texts) if text]
    for detector in detectors:
        if isinstance(detector, BatchDetector):
            batch = detector.detect_many([texts[i] for i in indexes], labels)
        else:
            batch = [detector.detect(texts[i], labels) for i in indexes]
        for i, entities in zip(indexes, batch, strict=True):
            found[i].extend(entities)
    return found


def _literal_placeholders(text: str, entities: list[Entity]) -> list[tuple[int, int, str]]:
    """Return placeholder-shaped strings in ``text`` that no entity covers."""
    if "<" not in text:
        return []
    spans = []
    for match in PLACEHOLDER.finditer(text):
        if not any(e.start < match.end() and match.start() < e.end for e in entities):
            spans.append((match.start(), match.end(), match.group()))
    return spans


def _apply(text: str, replacements: list[_Replacement]) -> str:
    if not replacements:
        return text
    replacements.sort(key=lambda r: r.start)
    parts = []
    position = 0
    for replacement in replacements:
        parts.append(text[position : replacement.start])
        parts.append(replacement.text)
        position = replacement.end
    parts.append(text[position:])
    return "".join(parts)


def _hash_key(policy: RedactionSettings, tenant: str) -> bytes:
    if policy.hash_key is not None:
        return policy.hash_key.get_secret_value().encode()
    return f"mesh-agents:{tenant}".encode()


def _check_ids(tenant: str, session: str) -> None:
    try:
        validate_identifier("tenant", tenant)
        validate_identifier("session", session)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"expected text as str, got {type(text).__name__}; pass the message text")
    return text


# Walking nested values and messages. Collecting and rebuilding visit strings in the
# same order, so the rebuilt structure takes the processed strings from an iterator.


def _collect_strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_strings(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_strings(item, out)


def _replace_strings(value: Any, strings: Any) -> Any:
    if isinstance(value, str):
        return next(strings)
    if isinstance(value, dict):
        return {key: _replace_strings(item, strings) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_strings(item, strings) for item in value]
    if isinstance(value, tuple):
        return tuple(_replace_strings(item, strings) for item in value)
    return value


def _collect_message_strings(message: BaseMessage, out: list[str], raw_json: list[bool] | None = None) -> None:
    """Collect the message's strings; ``raw_json`` records which of them are raw JSON text."""
    kinds = raw_json if raw_json is not None else []
    _collect_content(message.content, out)
    if isinstance(message, AIMessageChunk):
        kinds += [False] * (len(out) - len(kinds))
        for chunk in message.tool_call_chunks:
            out.append(chunk.get("args") or "")
            kinds.append(True)
    elif isinstance(message, AIMessage):
        for call in message.tool_calls:
            _collect_strings(call["args"], out)
        kinds += [False] * (len(out) - len(kinds))
        for invalid in message.invalid_tool_calls:
            out.append(invalid.get("args") or "")
            kinds.append(True)
    kinds += [False] * (len(out) - len(kinds))


def _collect_content(content: Any, out: list[str]) -> None:
    if isinstance(content, str):
        out.append(content)
        return
    for block in content:
        if isinstance(block, str):
            out.append(block)
        elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            out.append(block["text"])


def _rebuild_content(content: Any, strings: Any) -> Any:
    if isinstance(content, str):
        return next(strings)
    blocks = []
    for block in content:
        if isinstance(block, str):
            blocks.append(next(strings))
        elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            blocks.append({**block, "text": next(strings)})
        else:
            blocks.append(block)
    return blocks


def _rebuild_message(message: BaseMessage, strings: Any) -> BaseMessage:
    update: dict[str, Any] = {"content": _rebuild_content(message.content, strings)}
    if isinstance(message, AIMessageChunk):
        if message.tool_call_chunks:
            update["tool_call_chunks"] = [
                {**chunk, "args": next(strings) or chunk.get("args")} for chunk in message.tool_call_chunks
            ]
    elif isinstance(message, AIMessage):
        if message.tool_calls:
            update["tool_calls"] = [
                {**call, "args": _replace_strings(call["args"], strings)} for call in message.tool_calls
            ]
        if message.invalid_tool_calls:
            update["invalid_tool_calls"] = [
                {**invalid, "args": next(strings) or invalid.get("args")} for invalid in message.invalid_tool_calls
            ]
        raw_calls = message.additional_kwargs.get("tool_calls")
        if raw_calls and message.tool_calls:
            update["additional_kwargs"] = {
                **message.additional_kwargs,
                "tool_calls": _rewrite_raw_tool_calls(raw_calls, update["tool_calls"]),
            }
    return message.model_copy(update=update)


def _rewrite_raw_tool_calls(raw_calls: Any, tool_calls: list[Any]) -> Any:
    """Re-serialise provider-format tool calls (OpenAI ``function.arguments``) from the new args.

    Some chat-model integrations send ``additional_kwargs["tool_calls"]`` back to the
    provider as they are, so they must not keep the old values.
    """
    import json

    by_id = {call.get("id"): call for call in tool_calls}
    rewritten = []
    for raw in raw_calls:
        call = by_id.get(raw.get("id")) if isinstance(raw, dict) else None
        function = raw.get("function") if isinstance(raw, dict) else None
        if call is None or not isinstance(function, dict):
            rewritten.append(raw)
            continue
        rewritten.append({**raw, "function": {**function, "arguments": json.dumps(call["args"], ensure_ascii=False)}})
    return rewritten
