"""The semantic cache facade: scope, exact match, nearest neighbours, hard-negative guards."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, message_to_dict
from langchain_core.messages import messages_from_dict as _messages_from_dict
from opentelemetry import trace

from mesh_agents.cache.base import CacheBackend, CacheLookup, CacheRecord, CacheScope, Verifier
from mesh_agents.cache.guards import first_refusal, normalize_text, select_guards
from mesh_agents.cache.memory import MemoryCacheBackend
from mesh_agents.cache.schema import CacheSettings
from mesh_agents.embeddings import Vectorizer, default_vectorizer
from mesh_agents.errors import InvalidInputError
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.types import CacheControl, MeshRequest, ModelParams, validate_identifier

if TYPE_CHECKING:
    # Only for annotations: mesh_agents.settings imports this package's schema.
    from mesh_agents.settings import MeshSettings

__all__ = ["SemanticCache", "prompt_text"]

logger = logging.getLogger(__name__)


class SemanticCache:
    """Serve an earlier answer when a request means the same within the same scope.

    A lookup first tries the exact normalised text, then the nearest stored prompts
    of the scope by cosine distance. A candidate within ``distance_threshold`` is
    served only if every hard-negative guard passes; a candidate between
    ``distance_threshold`` and ``verifier_distance_threshold`` also needs the
    verifier's approval.

    Args:
        settings: Mesh settings; the ``cache`` section (with tenant overrides) applies.
        vectorizer: Embedding model; defaults to the local all-MiniLM-L6-v2, loaded
            on the first lookup or store, not here.
        backend: Where entries live. Defaults to Redis through redisvl when
            ``settings.redis_url`` is set, else this process's memory.
        verifier: Second opinion for the gray zone, such as a cross-encoder.

    The prompt of a request is its last message. The earlier messages (system prompt,
    conversation so far) and the answer-changing parameters go into the scope's
    ``params_hash``, so a cached answer is only reused in the same conversation state.
    """

    def __init__(
        self,
        settings: MeshSettings,
        *,
        vectorizer: Vectorizer | None = None,
        backend: CacheBackend | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        self._vectorizer = vectorizer
        self._backend = backend
        self._lock = threading.Lock()

    @property
    def vectorizer(self) -> Vectorizer:
        """The embedding model, created on first use."""
        with self._lock:
            if self._vectorizer is None:
                self._vectorizer = default_vectorizer()
            return self._vectorizer

    @property
    def backend(self) -> CacheBackend:
        """The entry store, created on first use."""
        with self._lock:
            if self._backend is None:
                self._backend = self._default_backend()
            return self._backend

    def _default_backend(self) -> CacheBackend:
        cache = self.settings.cache
        if self.settings.redis_url:
            from mesh_agents.cache.redis import RedisCacheBackend

            vectorizer = self._vectorizer or default_vectorizer()
            return RedisCacheBackend(self.settings.redis_url, vectorizer=vectorizer, index_name=cache.redis_index)
        return MemoryCacheBackend(max_entries=cache.max_entries)

    # Scope.

    def scope_for(self, request: MeshRequest, *, pii_fingerprint: str = "") -> CacheScope:
        """Return the scope a cached answer to ``request`` is valid for.

        ``params_hash`` covers the parameters that change an answer (temperature,
        top_p, max_tokens, stop, tools, response_format) and every message before the
        prompt (system prompt and conversation). ``namespace`` is the user when the
        tenant's policy sets ``partition_by_user``.
        """
        policy = self._policy(request.tenant)
        context = [message_to_dict(message) for message in request.messages[:-1]]
        params = request.params.model_dump(mode="json", exclude_none=True)
        payload = json.dumps({"params": params, "context": context}, sort_keys=True, default=str)
        params_hash = hashlib.sha256(payload.encode()).hexdigest()[:32]
        namespace = request.user or "" if policy.partition_by_user else ""
        return CacheScope(
            tenant=request.tenant,
            model=request.model or "auto",
            params_hash=params_hash,
            namespace=namespace,
            pii_fingerprint=pii_fingerprint,
        )

    # Lookup and store.

    def lookup(self, request: MeshRequest, scope: CacheScope) -> CacheLookup:
        """Find a cached answer for ``request`` within ``scope``.

        ``no-cache`` and ``force-refresh`` requests, and tenants whose cache is
        disabled, get a miss without a search. The current span gets the hit, the
        distance, the threshold and the refusing guard.
        """
        self._check_scope(request, scope)
        policy = self._policy(scope.tenant)
        result = self._lookup(request, scope, policy)
        _annotate_span(result)
        return result

    def _lookup(self, request: MeshRequest, scope: CacheScope, policy: CacheSettings) -> CacheLookup:
        threshold = policy.distance_threshold
        if not policy.enabled:
            return CacheLookup(hit=False, threshold=threshold, skipped="disabled")
        if request.cache_control is not CacheControl.DEFAULT:
            return CacheLookup(hit=False, threshold=threshold, skipped=str(request.cache_control))
        prompt = prompt_text(request)
        backend = self.backend

        # The same text in the same scope needs no embedding and no guard.
        record = backend.get(scope, _entry_id(scope, normalize_text(prompt)))
        if record is not None:
            return _served(record, distance=0.0, threshold=threshold, exact=True)

        vector = self.vectorizer.embed([prompt])[0]
        candidates = backend.search(scope, vector, policy.candidates)
        if not candidates:
            return CacheLookup(hit=False, threshold=threshold)
        upper = policy.verifier_distance_threshold if self.verifier is not None else None
        limit = max(threshold, upper or threshold)
        guards = select_guards(policy.guards, vectorizer=self.vectorizer)
        refused_by: str | None = None

        # Nearest first: a candidate refused by a guard may have a farther neighbour that passes.
        for _, distance, candidate in candidates:
            if distance > limit:
                break
            refusal = first_refusal(guards, prompt, candidate.prompt)
            if refusal is None and distance > threshold and self.verifier is not None:
                refusal = None if self.verifier.verify(prompt, candidate.prompt) else "verifier"
            if refusal is None:
                return _served(candidate, distance=distance, threshold=threshold, refused_by=refused_by)
            refused_by = refused_by or refusal
        return CacheLookup(hit=False, distance=candidates[0][1], threshold=threshold, refused_by=refused_by)

    def store(self, request: MeshRequest, scope: CacheScope, message: AIMessage, *, target: str | None) -> str | None:
        """Store ``message`` as the answer to ``request`` in ``scope``; return the entry id.

        Returns None without storing for ``no-cache`` requests, disabled tenants,
        and answers that are empty or cut short (``finish_reason`` ``length`` or
        ``content_filter``). A ``force-refresh`` request replaces the entry. The
        request's ``tags`` become the entry's tags for ``invalidate``.
        """
        self._check_scope(request, scope)
        policy = self._policy(scope.tenant)
        if not policy.enabled or request.cache_control is CacheControl.NO_CACHE:
            return None
        if not _cacheable(message):
            return None
        if isinstance(message, AIMessageChunk):
            # A streamed answer arrives as the sum of its chunks; store it as one message.
            message = AIMessage(
                content=message.content,
                tool_calls=message.tool_calls,
                usage_metadata=message.usage_metadata,
                response_metadata=message.response_metadata,
                id=message.id,
            )
        prompt = prompt_text(request)
        now = time.time()
        record = CacheRecord(
            entry_id=_entry_id(scope, normalize_text(prompt)),
            tenant=scope.tenant,
            scope_digest=scope.digest(),
            prompt=prompt,
            message=message_to_dict(message),
            target=target,
            tags=tuple(sorted(set(request.tags))),
            created_at=now,
            expires_at=None if policy.ttl_s is None else now + policy.ttl_s,
        )
        vector = self.vectorizer.embed([prompt])[0]
        return self.backend.put(scope, record, vector)

    def invalidate(self, *, tenant: str, tag: str | None = None, entry_id: str | None = None) -> int:
        """Delete a tenant's entries: all of them, those tagged ``tag``, or one entry; return how many."""
        validate_identifier("tenant", tenant)
        return self.backend.delete(tenant=tenant, tag=tag, entry_id=entry_id)

    # Text-level forms for tools that have a prompt rather than a request.

    def request_for_text(
        self,
        prompt: str,
        *,
        tenant: str,
        model: str | None = None,
        system: str | None = None,
        params: ModelParams | None = None,
        user: str | None = None,
        cache_control: CacheControl = CacheControl.DEFAULT,
        tags: Sequence[str] = (),
    ) -> MeshRequest:
        """Build the request that ``lookup_text`` and ``store_text`` look up or store."""
        if not prompt.strip():
            raise InvalidInputError("empty prompt: pass the request text to look up or store")
        messages: list[BaseMessage] = [SystemMessage(system)] if system else []
        messages.append(HumanMessage(prompt))
        return MeshRequest(
            messages=messages,
            tenant=tenant,
            model=model,
            user=user,
            params=params or ModelParams(),
            cache_control=cache_control,
            tags=list(tags),
        )

    def lookup_text(
        self,
        prompt: str,
        *,
        tenant: str,
        model: str | None = None,
        system: str | None = None,
        params: ModelParams | None = None,
        user: str | None = None,
        pii_fingerprint: str = "",
    ) -> CacheLookup:
        """Look up a single-turn prompt (with an optional system prompt) for ``tenant`` and ``model``."""
        request = self.request_for_text(prompt, tenant=tenant, model=model, system=system, params=params, user=user)
        return self.lookup(request, self.scope_for(request, pii_fingerprint=pii_fingerprint))

    def store_text(
        self,
        prompt: str,
        answer: str | AIMessage,
        *,
        tenant: str,
        model: str | None = None,
        system: str | None = None,
        params: ModelParams | None = None,
        user: str | None = None,
        target: str | None = None,
        tags: Sequence[str] = (),
        usage: dict[str, int] | None = None,
        pii_fingerprint: str = "",
    ) -> str | None:
        """Store ``answer`` for a single-turn prompt; return the entry id.

        ``usage`` (``input_tokens``, ``output_tokens``, ``total_tokens``) is kept as
        the answer's ``usage_metadata`` so a later hit can be counted as cache-read tokens.
        """
        request = self.request_for_text(
            prompt, tenant=tenant, model=model, system=system, params=params, user=user, tags=tags
        )
        if isinstance(answer, str):
            message = AIMessage(answer, usage_metadata=usage) if usage else AIMessage(answer)
        else:
            message = answer
        scope = self.scope_for(request, pii_fingerprint=pii_fingerprint)
        return self.store(request, scope, message, target=target)

    # Helpers.

    def _policy(self, tenant: str) -> CacheSettings:
        return self.settings.for_tenant(tenant).cache

    @staticmethod
    def _check_scope(request: MeshRequest, scope: CacheScope) -> None:
        if scope.tenant != request.tenant:
            raise InvalidInputError(
                f"cache scope tenant {scope.tenant!r} differs from request tenant {request.tenant!r}: "
                "build the scope with scope_for(request)",
                details={"tenant": request.tenant},
            )


def prompt_text(request: MeshRequest) -> str:
    """Return the text of the request's last message, the part a cache entry is keyed on."""
    return _message_text(request.messages[-1])


def _message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            # Images and other blocks change the answer but not the text; key on their content.
            parts.append(json.dumps(block, sort_keys=True, default=str))
    return "\n".join(parts)


def _entry_id(scope: CacheScope, prompt: str) -> str:
    return hashlib.sha256(f"{scope.digest()}\0{prompt}".encode()).hexdigest()[:32]


def _cacheable(message: AIMessage) -> bool:
    if not message.content and not message.tool_calls:
        return False
    finish = message.response_metadata.get("finish_reason") or message.response_metadata.get("stop_reason")
    return finish not in {"length", "content_filter", "max_tokens"}


def _served(
    record: CacheRecord, *, distance: float, threshold: float, exact: bool = False, refused_by: str | None = None
) -> CacheLookup:
    (message,) = _messages_from_dict([record.message])
    answer = message if isinstance(message, AIMessage) else AIMessage(content=message.content)
    usage: dict[str, Any] = dict(answer.usage_metadata or {})
    return CacheLookup(
        hit=True,
        message=answer,
        distance=distance,
        threshold=threshold,
        exact=exact,
        refused_by=refused_by,
        entry_id=record.entry_id,
        target=record.target,
        usage=usage,
    )


def _annotate_span(result: CacheLookup) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute(MeshAttr.CACHE_HIT, result.hit)
    if result.distance is not None:
        span.set_attribute(MeshAttr.CACHE_DISTANCE, result.distance)
    if result.threshold is not None:
        span.set_attribute(MeshAttr.CACHE_THRESHOLD, result.threshold)
    if result.refused_by:
        span.set_attribute(MeshAttr.CACHE_REFUSED_BY, result.refused_by)
