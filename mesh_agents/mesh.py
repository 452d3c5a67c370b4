"""The mesh pipeline: one request through every capability, sync or async, streamed or not.

Order of steps: input guardrails -> redaction -> cache lookup -> routing -> model call
(with retries and fallbacks, usage reserved and settled per attempt) -> output
guardrails -> restore -> cache store. Each step is a span. The steps are written once,
in ``_core``, as a generator of effects (see ``_effects``), and four thin drivers run it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk
from opentelemetry.trace import SpanKind

from mesh_agents._effects import END_OF_STREAM, Call, CoreRun, Emit, NextChunk, Sleep, drive_async, drive_sync
from mesh_agents.cache.base import CacheLookup
from mesh_agents.cache.semantic import SemanticCache
from mesh_agents.embeddings import Vectorizer, default_vectorizer
from mesh_agents.errors import TargetsExhausted
from mesh_agents.guardrails.base import GuardContext
from mesh_agents.guardrails.engine import GuardrailEngine
from mesh_agents.pipeline import (
    answer_attributes,
    attempt_attributes,
    blocked_error,
    cache_attributes,
    guard_context,
    message_text,
    model_call,
    model_name,
    model_stream,
    pii_fingerprint,
    validate_request,
)
from mesh_agents.redaction.redactor import Redactor, StreamRestorer
from mesh_agents.routing.base import Attempt, AttemptPlan, Target
from mesh_agents.routing.router import Router
from mesh_agents.settings import MeshSettings
from mesh_agents.tracing import GenAI, step_span
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.tracing.content import record_content
from mesh_agents.types import CacheControl, MeshRequest, MeshResult
from mesh_agents.usage.base import TokenUsage
from mesh_agents.usage.tracker import UsageTracker

__all__ = ["Mesh"]

logger = logging.getLogger(__name__)


class Mesh:
    """The agent mesh: guardrails, redaction, cache, routing and usage around model calls.

    Args:
        settings: Mesh settings; defaults to ``MeshSettings()`` (``mesh.yaml`` and
            ``MESH_*`` variables).
        targets: Chat models the router may pick, by target name. Values are
            ``BaseChatModel`` instances or ``Target`` objects with metadata.
        vectorizer: Embedding model shared by the cache, semantic routes and the
            guardrail classifier; defaults to the local all-MiniLM-L6-v2.
        guardrails, redactor, cache, router, usage: Replacements for the default
            capability objects built from ``settings``.

    Each capability is also usable alone through the attributes of the same names.
    """

    def __init__(
        self,
        settings: MeshSettings | None = None,
        *,
        targets: Mapping[str, BaseChatModel | Target] | None = None,
        vectorizer: Vectorizer | None = None,
        guardrails: GuardrailEngine | None = None,
        redactor: Redactor | None = None,
        cache: SemanticCache | None = None,
        router: Router | None = None,
        usage: UsageTracker | None = None,
    ) -> None:
        self.settings = settings or MeshSettings()
        self.vectorizer = vectorizer or default_vectorizer()
        self.guardrails = guardrails or GuardrailEngine(self.settings, vectorizer=self.vectorizer)
        self.redactor = redactor or Redactor(self.settings)
        self.cache = cache or SemanticCache(self.settings, vectorizer=self.vectorizer)
        self.usage = usage or UsageTracker(self.settings)
        self.router = router or Router(self.settings, targets=targets, vectorizer=self.vectorizer, budget=self.usage)

    # Public entry points: four drivers over one core.

    def invoke(self, request: MeshRequest) -> MeshResult:
        """Run the pipeline and return the restored answer.

        Raises:
            InvalidInputError: the request is malformed (the message names the field).
            GuardrailBlocked: an input or output guardrail blocked the request.
            RedactionBlocked: the redaction policy blocked it or detection failed closed.
            BudgetExceeded: a budget has no room for the call.
            TargetsExhausted: every target failed after retries and fallbacks.
        """
        return drive_sync(self._core(request, streaming=False))

    async def ainvoke(self, request: MeshRequest) -> MeshResult:
        """Async form of ``invoke``."""
        return await drive_async(self._core(request, streaming=False))

    def stream(self, request: MeshRequest) -> Iterator[AIMessageChunk]:
        """Run the pipeline and yield restored answer chunks as the model produces them.

        A placeholder split across chunks is held back only until it is complete.
        Fallback to another target happens only before the first chunk is sent.
        """
        yield from CoreRun(self._core(request, streaming=True)).sync()

    async def astream(self, request: MeshRequest) -> AsyncIterator[AIMessageChunk]:
        """Async form of ``stream``."""
        async for chunk in CoreRun(self._core(request, streaming=True)).asynchronous():
            yield chunk

    # The core.

    def _core(self, request: MeshRequest, *, streaming: bool) -> Generator[Any, Any, MeshResult]:
        validate_request(self.settings, request)
        session = request.session or request.run_id or f"ephemeral-{uuid.uuid4().hex}"
        context = guard_context(request)
        details: dict[str, Any] = {}
        attributes = {
            MeshAttr.TENANT: request.tenant,
            MeshAttr.USER: request.user,
            MeshAttr.SESSION: request.session,
            MeshAttr.RUN_ID: request.run_id,
            GenAI.AGENT_NAME: request.agent,
            GenAI.CONVERSATION_ID: request.session,
        }
        with step_span("mesh.request", attributes=attributes) as root:
            # Screen what enters the model's context: user text and tool results.
            with step_span("mesh.guard_input", attributes={MeshAttr.STEP: "guard_input"}):
                messages, report = yield Call(
                    self.guardrails.check_messages, (request.messages,), {"context": context}, blocking=True
                )
            details["input_verdicts"] = report.verdicts
            if report.blocked:
                raise blocked_error(report, "input")

            # Replace personal data with placeholders that the vault can reverse.
            with step_span("mesh.redact", attributes={MeshAttr.STEP: "redact"}) as span:
                masked, entities = yield Call(
                    self.redactor.mask_messages,
                    (messages,),
                    {"tenant": request.tenant, "session": session},
                    blocking=True,
                )
                span.set_attribute(MeshAttr.REDACTION_ENTITIES, len(entities))
            masked_request = request.model_copy(update={"messages": masked})

            # Serve an earlier answer when one means the same within the same scope.
            use_cache = request.cache_control is not CacheControl.NO_CACHE
            scope = self.cache.scope_for(masked_request, pii_fingerprint=pii_fingerprint(request.tenant, entities))
            lookup = CacheLookup(hit=False)
            if use_cache and request.cache_control is not CacheControl.FORCE_REFRESH:
                with step_span("mesh.cache.lookup", attributes={MeshAttr.STEP: "cache_lookup"}) as span:
                    lookup = yield Call(self.cache.lookup, (masked_request, scope), blocking=True)
                    span.set_attributes(cache_attributes(lookup))
            details["cache"] = lookup

            if lookup.hit and lookup.message is not None:
                answer = lookup.message
                target_name = lookup.target
                details["usage"] = yield Call(self.usage.record_cache_read, (request, lookup), blocking=True)
                root.set_attribute(GenAI.USAGE_CACHE_READ_INPUT_TOKENS, details["usage"].usage.cache_read_tokens)
                if streaming:
                    answer, restored_count = yield from self._restore_cached_stream(answer, request.tenant, session)
                else:
                    answer, restored_count = yield from self._guard_and_restore(answer, request, session, context)
            else:
                answer, target_name, restored_count = yield from self._call_targets(
                    masked_request, request, session, context, streaming, details
                )
                if use_cache:
                    with step_span("mesh.cache.store", attributes={MeshAttr.STEP: "cache_store"}):
                        yield Call(
                            self.cache.store,
                            (masked_request, scope, details["masked_answer"]),
                            {"target": target_name},
                            blocking=True,
                        )

            root.set_attribute(MeshAttr.CACHE_HIT, lookup.hit)
            if target_name:
                root.set_attribute(MeshAttr.ROUTE_TARGET, target_name)
            root.set_attribute(MeshAttr.REDACTION_ENTITIES, len(entities))
            root.set_attribute(MeshAttr.REDACTION_RESTORED, restored_count)
            return MeshResult(
                message=answer,
                target=target_name,
                cache_hit=lookup.hit,
                entities_masked=len(entities),
                entities_restored=restored_count,
                details=details,
            )

    def _call_targets(
        self,
        masked_request: MeshRequest,
        request: MeshRequest,
        session: str,
        context: GuardContext,
        streaming: bool,
        details: dict[str, Any],
    ) -> Generator[Any, Any, tuple[AIMessage, str, int]]:
        with step_span("mesh.route", attributes={MeshAttr.STEP: "route"}) as span:
            decision = yield Call(self.router.route, (masked_request,), blocking=True)
            span.set_attributes(decision.span_attributes())
        details["route"] = decision
        plan = self.router.plan(decision, masked_request)
        errors: list[str] = []
        attempts = 0
        while (attempt := plan.next_attempt()) is not None:
            attempts += 1
            if attempt.delay_s > 0:
                yield Sleep(attempt.delay_s)
            outcome = yield from self._attempt(plan, attempt, masked_request, request, session, streaming, details)
            if isinstance(outcome, BaseException):
                errors.append(f"{attempt.target.name}: {type(outcome).__name__}")
                continue
            details["attempts"] = attempts
            masked_answer, restored_text, restored_count = outcome
            details["masked_answer"] = masked_answer
            if streaming:
                # Chunks already went out restored; the output guard can only flag now.
                report = yield Call(self.guardrails.check_output, (masked_answer,), {"context": context}, blocking=True)
                details["output_verdicts"] = report.verdicts
                # The text went out restored chunk by chunk; the tool calls are restored whole.
                restored, _ = yield Call(
                    self.redactor.restore_message,
                    (masked_answer,),
                    {"tenant": request.tenant, "session": session},
                    blocking=True,
                )
                answer = AIMessage(
                    content=restored_text,
                    tool_calls=restored.tool_calls,
                    invalid_tool_calls=restored.invalid_tool_calls,
                    usage_metadata=masked_answer.usage_metadata,
                )
                return answer, attempt.target.name, restored_count
            answer, restored_count = yield from self._guard_and_restore(masked_answer, request, session, context)
            return answer, attempt.target.name, restored_count
        details["attempts"] = attempts
        raise TargetsExhausted(
            f"every target failed for tenant {request.tenant!r} after {attempts} attempts "
            f"({'; '.join(errors) or 'no target available'}); check the targets' health "
            "or add a fallback target",
            details={"attempts": attempts, "errors": errors},
        )

    def _attempt(
        self,
        plan: AttemptPlan,
        attempt: Attempt,
        masked_request: MeshRequest,
        request: MeshRequest,
        session: str,
        streaming: bool,
        details: dict[str, Any],
    ) -> Generator[Any, Any, tuple[AIMessage, str, int] | Exception]:
        """Make one model call; return the masked answer, or the error the plan recorded.

        Budget is reserved before the call and settled with the reported usage after
        it. A failed call releases its reservation. A stream that fails after its first
        chunk raises, because the consumer has already seen part of the answer.
        """
        target = attempt.target
        name = model_name(target)
        attributes = attempt_attributes(attempt, request)
        with step_span(f"chat {name}", kind=SpanKind.CLIENT, attributes=attributes) as span:
            reservation = yield Call(self.usage.reserve, (request, target), blocking=True)
            started = time.perf_counter()
            try:
                if streaming:
                    model, call_kwargs = model_stream(attempt, masked_request)
                    masked_answer, restored_text, restored_count = yield from self._stream_model(
                        model, masked_request, call_kwargs, request.tenant, session
                    )
                else:
                    masked_answer = yield model_call(attempt, masked_request)
                    restored_text, restored_count = "", 0
            except Exception as exc:
                error = exc.error if isinstance(exc, _StreamStarted) else exc
                latency = time.perf_counter() - started
                plan.record_failure(attempt, error, latency)
                details.setdefault("failed_attempts", []).append({"target": target.name, "error": type(error).__name__})
                logger.warning(
                    "model call failed: tenant=%s target=%s attempt=%d error=%s",
                    request.tenant,
                    target.name,
                    attempt.number,
                    type(error).__name__,
                )
                span.set_attribute(GenAI.ERROR_TYPE, type(error).__name__)
                consumed = None
                if isinstance(exc, _StreamStarted):
                    # The provider produced part of an answer: count it as an estimate.
                    partial = self.usage.count_tokens(exc.partial_text, model=name)
                    consumed = TokenUsage(
                        input_tokens=reservation.prompt_tokens, output_tokens=partial.tokens, estimated=True
                    )
                yield Call(self.usage.release, (reservation,), {"error": error, "consumed": consumed}, blocking=True)
                if isinstance(exc, _StreamStarted):
                    raise error from None
                return exc
            plan.record_success(attempt, time.perf_counter() - started)

            streamed_text = message_text(masked_answer) if streaming else None
            record = yield Call(
                self.usage.settle,
                (reservation, request, target, masked_answer),
                {"streamed_text": streamed_text},
                blocking=True,
            )
            details["usage"] = record
            span.set_attributes(answer_attributes(masked_answer, target))
            record_content(span, self.settings.tracing, input_messages=masked_request.messages, output=masked_answer)
            span.set_attribute(GenAI.USAGE_INPUT_TOKENS, record.usage.input_tokens)
            span.set_attribute(GenAI.USAGE_OUTPUT_TOKENS, record.usage.output_tokens)
            span.set_attribute(GenAI.USAGE_CACHE_READ_INPUT_TOKENS, record.usage.cache_read_tokens)
            span.set_attribute(MeshAttr.USAGE_ESTIMATED, record.usage.estimated)
            if record.cost_usd is not None:
                span.set_attribute(MeshAttr.USAGE_COST_USD, record.cost_usd)
            return masked_answer, restored_text, restored_count

    def _stream_model(
        self,
        model: Any,
        masked_request: MeshRequest,
        call_kwargs: dict[str, Any],
        tenant: str,
        session: str,
    ) -> Generator[Any, Any, tuple[AIMessage, str, int]]:
        """Stream from the model, emitting restored chunks; return the whole masked answer."""
        iterator = yield Call(
            _open_stream, (model, masked_request.messages, call_kwargs), {"asynchronous": False}, afn=_aopen_stream
        )
        restorer = self.redactor.stream_restorer(tenant=tenant, session=session)
        call_restorer = _ToolCallRestorer(self.redactor, tenant, session)
        whole: AIMessageChunk | None = None
        restored_parts: list[str] = []
        emitted = False
        try:
            while True:
                chunk = yield NextChunk(iterator)
                if chunk is END_OF_STREAM:
                    break
                if not isinstance(chunk, AIMessageChunk):
                    # A model without native streaming yields its whole answer as one message.
                    chunk = _as_chunk(chunk)
                whole = chunk if whole is None else whole + chunk
                text = restorer.feed(message_text(chunk))
                calls = call_restorer.feed(chunk.tool_call_chunks)
                if text or chunk.usage_metadata or calls:
                    restored_parts.append(text)
                    emitted = True
                    yield Emit(
                        AIMessageChunk(
                            content=text, id=chunk.id, tool_call_chunks=calls, usage_metadata=chunk.usage_metadata
                        )
                    )
        except Exception as exc:
            if emitted:
                partial = message_text(whole) if whole is not None else ""
                raise _StreamStarted(exc, partial) from exc
            raise
        tail = restorer.flush()
        call_tails = call_restorer.flush()
        if tail or call_tails:
            restored_parts.append(tail)
            yield Emit(AIMessageChunk(content=tail, tool_call_chunks=call_tails))
        masked = whole if whole is not None else AIMessageChunk(content="")
        answer = AIMessage(
            content=masked.content,
            tool_calls=masked.tool_calls,
            usage_metadata=masked.usage_metadata,
            response_metadata=masked.response_metadata,
            id=masked.id,
        )
        restored_count = restorer.restored + call_restorer.restored
        return answer, "".join(restored_parts), restored_count

    def _guard_and_restore(
        self, masked_answer: AIMessage, request: MeshRequest, session: str, context: GuardContext
    ) -> Generator[Any, Any, tuple[AIMessage, int]]:
        with step_span("mesh.guard_output", attributes={MeshAttr.STEP: "guard_output"}):
            report = yield Call(self.guardrails.check_output, (masked_answer,), {"context": context}, blocking=True)
        if report.blocked:
            raise blocked_error(report, "output")
        with step_span("mesh.restore", attributes={MeshAttr.STEP: "restore"}) as span:
            restored, count = yield Call(
                self.redactor.restore_message,
                (masked_answer,),
                {"tenant": request.tenant, "session": session},
                blocking=True,
            )
            span.set_attribute(MeshAttr.REDACTION_RESTORED, count)
        return restored, count

    def _restore_cached_stream(
        self, answer: AIMessage, tenant: str, session: str
    ) -> Generator[Any, Any, tuple[AIMessage, int]]:
        """Emit a cached answer, restored, as one chunk; return it and the count restored."""
        restored, count = yield Call(
            self.redactor.restore_message, (answer,), {"tenant": tenant, "session": session}, blocking=True
        )
        text = message_text(restored)
        calls = [
            tool_call_chunk(
                name=call["name"], args=json.dumps(call["args"], ensure_ascii=False), id=call["id"], index=index
            )
            for index, call in enumerate(restored.tool_calls)
        ]
        if text or calls:
            yield Emit(AIMessageChunk(content=text, tool_call_chunks=calls))
        return AIMessage(content=text, tool_calls=restored.tool_calls), count


class _ToolCallRestorer:
    """Restores streamed tool-call arguments, which are raw JSON, with one stream restorer per call index."""

    def __init__(self, redactor: Redactor, tenant: str, session: str) -> None:
        self._redactor = redactor
        self._tenant = tenant
        self._session = session
        self._restorers: dict[int | None, StreamRestorer] = {}

    def feed(self, calls: list[ToolCallChunk]) -> list[ToolCallChunk]:
        restored = []
        for call in calls:
            index = call.get("index")
            restorer = self._restorers.get(index)
            if restorer is None:
                restorer = self._redactor.stream_restorer(tenant=self._tenant, session=self._session, json_strings=True)
                self._restorers[index] = restorer
            arguments = restorer.feed(call.get("args") or "")
            restored.append(tool_call_chunk(name=call.get("name"), args=arguments, id=call.get("id"), index=index))
        return restored

    def flush(self) -> list[ToolCallChunk]:
        tails = []
        for index, restorer in self._restorers.items():
            rest = restorer.flush()
            if rest:
                tails.append(tool_call_chunk(name=None, args=rest, id=None, index=index))
        return tails

    @property
    def restored(self) -> int:
        return sum(restorer.restored for restorer in self._restorers.values())


class _StreamStarted(Exception):
    """Wraps a stream error raised after chunks went out, so the attempt is not retried.

    ``partial_text`` is the masked text received before the error, for usage accounting.
    """

    def __init__(self, error: Exception, partial_text: str) -> None:
        super().__init__(type(error).__name__)
        self.error = error
        self.partial_text = partial_text


def _as_chunk(message: AIMessage) -> AIMessageChunk:
    calls = [
        tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call.get("id"), index=index)
        for index, call in enumerate(message.tool_calls)
    ]
    return AIMessageChunk(
        content=message.content,
        tool_call_chunks=calls,
        usage_metadata=message.usage_metadata,
        response_metadata=message.response_metadata,
        id=message.id,
    )


def _open_stream(
    model: Any, messages: list[BaseMessage], kwargs: dict[str, Any], *, asynchronous: bool
) -> Iterator[Any]:
    return iter(model.stream(messages, **kwargs))


async def _aopen_stream(
    model: Any, messages: list[BaseMessage], kwargs: dict[str, Any], *, asynchronous: bool
) -> AsyncIterator[Any]:
    return model.astream(messages, **kwargs).__aiter__()
