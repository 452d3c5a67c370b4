"""The guardrail engine: runs a tenant's guardrails over a text, a message list, an answer or a tool call.

Guardrails that apply to a text's source run in parallel on a thread pool within the
policy's time budget (``timeout_s``). The first block verdict ends the wait. A
guardrail that raises or does not finish in time produces a block verdict with the
reason ``guardrail_error`` or ``guardrail_timeout``, or an allow verdict with that
reason when the policy sets ``fail_open``.

Each guardrail run is a span ``apply_guardrail {name}`` with the
``gen_ai.guardrail.result`` event. The span carries the decision, the reason, the
score, the source and the policy id, and never the text.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage

from mesh_agents.embeddings import Vectorizer, default_vectorizer
from mesh_agents.errors import InvalidInputError
from mesh_agents.guardrails.base import Action, GuardContext, Guardrail, GuardReport, Verdict
from mesh_agents.guardrails.injection import InjectionGuardrail
from mesh_agents.guardrails.output import PiiOutputGuardrail, SystemPromptLeakGuardrail, UrlGuardrail
from mesh_agents.guardrails.schema import GuardrailSettings
from mesh_agents.guardrails.secrets import SecretsGuardrail
from mesh_agents.guardrails.tools import ToolCallGuard, iter_strings
from mesh_agents.tracing import GenAI, step_span
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.types import Source

if TYPE_CHECKING:
    from mesh_agents.settings import MeshSettings

__all__ = ["GuardAttr", "GuardrailEngine"]

logger = logging.getLogger(__name__)


class GuardAttr:
    """Span attribute and event names of a guardrail run.

    NOTE: the OpenTelemetry GenAI conventions for guardrails are still a draft
    (semantic-conventions 1.3x); these names follow the ``apply_guardrail`` operation
    and ``gen_ai.guardrail.*`` namespace of that draft and may change with it.
    """

    OPERATION = "apply_guardrail"
    NAME = "gen_ai.guardrail.name"
    POLICY_ID = "gen_ai.guardrail.policy.id"
    RESULT = "gen_ai.guardrail.result"
    REASON = "gen_ai.guardrail.reason"
    SCORE = "gen_ai.guardrail.score"
    SOURCE = "gen_ai.guardrail.source"
    EVENT = "gen_ai.guardrail.result"


_STRIPPED_KEY = "guardrail"


class _Policy:
    """A tenant's guardrail settings with the guardrails built from them."""

    def __init__(self, settings: GuardrailSettings, guardrails: list[Guardrail]) -> None:
        self.settings = settings
        self.guardrails = guardrails
        self.tool_guard = ToolCallGuard(settings)
        self.secrets = SecretsGuardrail(settings.secrets) if settings.secrets.enabled else None
        self.prepared = False
        self.prepare_lock = threading.Lock()


class GuardrailEngine:
    """Screens text entering and leaving a model with a tenant's guardrail policy.

    Args:
        settings: Mesh settings; ``settings.guardrails`` is the policy, and
            ``settings.for_tenant`` merges a tenant's overrides.
        guardrails: Guardrails to run instead of the built-in ones (injection,
            secrets, output PII, system-prompt leak, output URLs), for every tenant.
        vectorizer: Embedding model for the injection classifier; the shared local
            all-MiniLM-L6-v2 when None, loaded on first use.
    """

    def __init__(
        self,
        settings: MeshSettings,
        *,
        guardrails: Sequence[Guardrail] | None = None,
        vectorizer: Vectorizer | None = None,
    ) -> None:
        self.settings = settings
        self._custom = list(guardrails) if guardrails is not None else None
        self._vectorizer = vectorizer
        self._policies: dict[str, _Policy] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    # Public entry points.

    def check(self, text: str, source: Source, context: GuardContext) -> GuardReport:
        """Run the guardrails for ``source`` over ``text`` and merge their verdicts.

        Raises:
            InvalidInputError: the text is not a string or the tenant is unknown.
        """
        if not isinstance(text, str):
            raise InvalidInputError(
                f"guardrail input must be a string, got {type(text).__name__}; pass the message text"
            )
        policy = self._policy(context.tenant)
        started = time.perf_counter()
        if not policy.settings.enabled:
            return GuardReport(Action.ALLOW, text=text)
        selected = [g for g in policy.guardrails if source in getattr(g, "sources", frozenset(Source))]
        verdicts = self._run(selected, text, source, context, policy)
        report = self._merge(verdicts, text, source, context, policy)
        report.elapsed_ms = (time.perf_counter() - started) * 1000
        return report

    def check_messages(
        self, messages: Sequence[BaseMessage], *, context: GuardContext
    ) -> tuple[list[BaseMessage], GuardReport]:
        """Screen the user and tool messages of a conversation; return the messages to send and one report.

        User messages are screened as ``user`` text and tool messages as
        ``tool_result`` text; system messages are the operator's and AI messages were
        screened when the model produced them. A rewritten message is a copy whose
        content has the offending spans replaced by a removal marker and whose
        ``additional_kwargs["guardrail"]`` records what was stripped. The input list
        and its messages are never changed. Checking stops at the first block.
        """
        result: list[BaseMessage] = []
        reports: list[GuardReport] = []
        for message in messages:
            source = _source_of(message)
            if source is None:
                result.append(message)
                continue
            message_context = context
            if isinstance(message, ToolMessage) and message.name:
                message_context = dataclasses.replace(context, tool_name=message.name)
            report = self.check(_text(message), source, message_context)
            reports.append(report)
            if report.blocked:
                result.extend(messages[len(result) :])
                break
            if report.text is not None and report.text != _text(message):
                marker = {"stripped": True, "reasons": report.reasons}
                kwargs = {**message.additional_kwargs, _STRIPPED_KEY: marker}
                message = message.model_copy(update={"content": report.text, "additional_kwargs": kwargs})
            result.append(message)
        return result, GuardReport.merge(reports)

    def check_output(self, message: AIMessage, *, context: GuardContext) -> GuardReport:
        """Screen a model answer: its text as ``model_output`` and each tool call it makes.

        The mesh passes the masked answer, so personal data appears as placeholders.
        A tool call whose arguments were not valid JSON is blocked.
        """
        reports = [self.check(_text(message), Source.MODEL_OUTPUT, context)]
        for call in message.tool_calls:
            call_context = dataclasses.replace(context, tool_name=call["name"])
            reports.append(self.check_tool_call(call["name"], call["args"], context=call_context))
        for invalid in message.invalid_tool_calls:
            verdict = Verdict(
                Action.BLOCK, "tool_call", 1.0, "tool_call_invalid_json", source=Source.TOOL_ARGS,
                policy_id=self._policy(context.tenant).settings.policy_id,
            )  # fmt: skip
            logger.info("blocked tool call %r with arguments that are not valid JSON", invalid.get("name"))
            reports.append(GuardReport(Action.BLOCK, [verdict]))
        merged = GuardReport.merge(reports)
        merged.text = reports[0].text
        return merged

    def check_tool_call(
        self, name: str, args: dict[str, Any], *, context: GuardContext, schema: dict[str, Any] | None = None
    ) -> GuardReport:
        """Check a tool call before it runs: allowed tools, JSON schema, argument patterns, destinations, secrets.

        Raises:
            InvalidInputError: ``args`` is not a dict.
            ConfigurationError: ``schema`` is not a valid JSON schema.
        """
        if not isinstance(args, dict):
            raise InvalidInputError(
                f"arguments of tool {name!r} must be a JSON object, got {type(args).__name__}; pass a dict"
            )
        policy = self._policy(context.tenant)
        started = time.perf_counter()
        if not policy.settings.enabled:
            return GuardReport(Action.ALLOW)
        with self._span(policy.tool_guard.name, Source.TOOL_ARGS, context, policy) as span:
            verdicts = policy.tool_guard.check(name, args, dataclasses.replace(context, tool_name=name), schema)
            if policy.secrets is not None:
                for _, value in iter_strings(args):
                    verdict = policy.secrets.check(value, Source.TOOL_ARGS, context)
                    if verdict.action is not Action.ALLOW:
                        verdicts.append(dataclasses.replace(verdict, spans=(), rewritten=None))
                        break
            verdicts = [
                dataclasses.replace(v, source=Source.TOOL_ARGS, policy_id=policy.settings.policy_id) for v in verdicts
            ]
            worst = max(verdicts, key=lambda v: v.action.severity, default=None)
            _record(span, worst or Verdict(Action.ALLOW, policy.tool_guard.name))
        action = worst.action if worst else Action.ALLOW
        return GuardReport(action, verdicts, elapsed_ms=(time.perf_counter() - started) * 1000)

    def warm_up(self, tenant: str | None = None) -> None:
        """Build the guardrails of ``tenant`` (or the mesh-wide policy) and load their models now."""
        policy = self._policy(tenant) if tenant else self._default_policy()
        self._prepare(policy)

    def close(self) -> None:
        """Stop the worker threads; the engine starts new ones if it is used again."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # Policies and guardrails.

    def _policy(self, tenant: str) -> _Policy:
        with self._lock:
            policy = self._policies.get(tenant)
        if policy is not None:
            return policy
        return self._store_policy(tenant, self.settings.for_tenant(tenant).guardrails)

    def _default_policy(self) -> _Policy:
        with self._lock:
            policy = self._policies.get("")
        return policy or self._store_policy("", self.settings.guardrails)

    def _store_policy(self, key: str, settings: GuardrailSettings) -> _Policy:
        guardrails = self._custom if self._custom is not None else self._build(settings)
        policy = _Policy(settings, guardrails)
        with self._lock:
            return self._policies.setdefault(key, policy)

    def _build(self, settings: GuardrailSettings) -> list[Guardrail]:
        guardrails: list[Guardrail] = []
        if settings.injection.enabled:
            vectorizer = self._vectorizer
            if vectorizer is None and settings.injection.classifier.enabled:
                vectorizer = default_vectorizer()
            guardrails.append(InjectionGuardrail(settings.injection, vectorizer))
        if settings.secrets.enabled:
            guardrails.append(SecretsGuardrail(settings.secrets))
        guardrails.append(PiiOutputGuardrail(settings.output))
        guardrails.append(SystemPromptLeakGuardrail(settings.output))
        guardrails.append(UrlGuardrail(settings))
        return guardrails

    def _prepare(self, policy: _Policy) -> None:
        """Load models once per policy, outside the time budget, so the first check does not time out."""
        if policy.prepared:
            return
        with policy.prepare_lock:
            if policy.prepared:
                return
            for guardrail in policy.guardrails:
                prepare: Callable[[], None] | None = getattr(guardrail, "prepare", None)
                if prepare is not None:
                    prepare()
            policy.prepared = True

    def _pool(self, workers: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mesh-guardrail")
            return self._executor

    # Running and merging.

    def _run(
        self, guardrails: list[Guardrail], text: str, source: Source, context: GuardContext, policy: _Policy
    ) -> list[Verdict]:
        if not guardrails:
            return []
        self._prepare(policy)
        settings = policy.settings
        pool = self._pool(settings.max_workers)
        futures: dict[Future[Verdict], Guardrail] = {}
        for guardrail in guardrails:
            run = contextvars.copy_context().run
            futures[pool.submit(run, self._apply, guardrail, text, source, context, policy)] = guardrail
        deadline = time.monotonic() + settings.timeout_s
        verdicts: list[Verdict] = []
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=max(deadline - time.monotonic(), 0.0), return_when=FIRST_COMPLETED)
            if not done:
                break
            for future in done:
                try:
                    verdicts.append(future.result())
                except Exception:
                    logger.exception("guardrail %r failed", futures[future].name)
                    verdicts.append(self._failure(futures[future], "guardrail_error", source, policy))
            if any(v.action is Action.BLOCK for v in verdicts):
                # The first block wins; the guardrails still running finish in the background.
                for future in pending:
                    future.cancel()
                return verdicts
        for future in pending:
            future.cancel()
            logger.warning("guardrail %r timed out after %.2f s", futures[future].name, settings.timeout_s)
            verdicts.append(self._failure(futures[future], "guardrail_timeout", source, policy))
        return verdicts

    def _apply(
        self, guardrail: Guardrail, text: str, source: Source, context: GuardContext, policy: _Policy
    ) -> Verdict:
        with self._span(guardrail.name, source, context, policy) as span:
            verdict = guardrail.check(text, source, context)
            verdict = dataclasses.replace(verdict, source=source, policy_id=policy.settings.policy_id)
            _record(span, verdict)
        return verdict

    def _failure(self, guardrail: Guardrail, reason: str, source: Source, policy: _Policy) -> Verdict:
        action = Action.ALLOW if policy.settings.fail_open else Action.BLOCK
        return Verdict(action, guardrail.name, 0.0, reason, source=source, policy_id=policy.settings.policy_id)

    def _span(self, name: str, source: Source, context: GuardContext, policy: _Policy) -> Any:
        return step_span(
            f"{GuardAttr.OPERATION} {name}",
            attributes={
                GenAI.OPERATION_NAME: GuardAttr.OPERATION,
                GuardAttr.NAME: name,
                GuardAttr.POLICY_ID: policy.settings.policy_id,
                GuardAttr.SOURCE: source.value,
                MeshAttr.TENANT: context.tenant,
                GenAI.AGENT_NAME: context.agent,
                GenAI.TOOL_NAME: context.tool_name,
            },
        )

    def _merge(
        self, verdicts: list[Verdict], text: str, source: Source, context: GuardContext, policy: _Policy
    ) -> GuardReport:
        kept = [v for v in verdicts if v.action is not Action.ALLOW or v.reason.startswith("guardrail_")]
        action = max((v.action for v in verdicts), key=lambda a: a.severity, default=Action.ALLOW)
        if action is not Action.REWRITE:
            return GuardReport(action, kept, text=text)

        # Several rewrites were computed on the original text; apply them one after another.
        rewrites = [v for v in kept if v.action is Action.REWRITE]
        current = rewrites[0].rewritten or text
        by_name = {g.name: g for g in policy.guardrails}
        for verdict in rewrites[1:]:
            guardrail = by_name.get(verdict.guardrail)
            if guardrail is None:
                continue
            again = guardrail.check(current, source, context)
            if again.action is Action.REWRITE and again.rewritten is not None:
                current = again.rewritten
            elif again.action is Action.BLOCK:
                return GuardReport(Action.BLOCK, [*kept, dataclasses.replace(again, source=source)], text=text)
        return GuardReport(action, kept, text=current)


def _record(span: Any, verdict: Verdict) -> None:
    attributes = {
        GuardAttr.NAME: verdict.guardrail,
        GuardAttr.RESULT: verdict.action.value,
        GuardAttr.REASON: verdict.reason,
        GuardAttr.SCORE: round(verdict.score, 4),
    }
    span.set_attributes(attributes)
    if verdict.source is not None:
        attributes[GuardAttr.SOURCE] = verdict.source.value
    if verdict.policy_id is not None:
        attributes[GuardAttr.POLICY_ID] = verdict.policy_id
    span.add_event(GuardAttr.EVENT, attributes)


def _source_of(message: BaseMessage) -> Source | None:
    if isinstance(message, HumanMessage):
        return Source.USER
    if isinstance(message, ToolMessage):
        return Source.TOOL_RESULT
    if isinstance(message, SystemMessage | AIMessage):
        return None
    if isinstance(message, ChatMessage):
        return {"user": Source.USER, "tool": Source.TOOL_RESULT}.get(message.role)
    # Function results and unknown kinds come from outside the operator's control.
    return Source.TOOL_RESULT if message.type in ("function", "tool") else Source.USER


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)
