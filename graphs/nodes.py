"""LangGraph nodes, one per mesh step; each calls one capability object of a ``Mesh``.

The nodes add no policy of their own: they take the state, call ``mesh.guardrails``,
``mesh.redactor``, ``mesh.cache``, ``mesh.router`` or ``mesh.usage``, and shape the
result into a state update. A policy violation (guardrail, redaction or budget block)
becomes a ``blocked`` entry and a final answer that says why, so the conditional edges
can end the run; any other error propagates to the caller.

Each node opens the same span as the matching step of ``Mesh.invoke`` and nests it
under the run's context (see ``graphs.context``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from opentelemetry.trace import SpanKind

from graphs.blocking import blocked_update
from graphs.context import identity_attributes, node_span
from graphs.state import MeshState
from mesh_agents._effects import Sleep, drive_async, drive_sync
from mesh_agents.cache.base import CacheLookup
from mesh_agents.errors import PolicyViolation, TargetsExhausted
from mesh_agents.pipeline import (
    answer_attributes,
    attempt_attributes,
    blocked_error,
    cache_attributes,
    guard_context,
    model_call,
    model_name,
    pii_fingerprint,
    validate_request,
)
from mesh_agents.tracing import GenAI
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.tracing.content import record_content
from mesh_agents.types import CacheControl, MeshRequest

if TYPE_CHECKING:
    from mesh_agents.mesh import Mesh

__all__ = ["MeshNodes", "model_node_name"]

logger = logging.getLogger(__name__)


def model_node_name(target: str) -> str:
    """Return the graph node name of the model call for ``target``."""
    return f"model[{target}]"


class MeshNodes:
    """The mesh graph's nodes, bound to one ``Mesh``.

    Every public method is a node: it takes the state and the run's config and returns
    a state update. ``model_node(target)`` builds the model-call node of one target.
    """

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh

    # Before the model.

    def guard_input(self, state: MeshState, config: RunnableConfig) -> dict[str, Any]:
        """Screen user text and tool results; a block ends the run."""
        request = state["request"]
        validate_request(self.mesh.settings, request)
        session = state.get("session") or request.session or request.run_id or f"ephemeral-{uuid.uuid4().hex}"
        attributes = {MeshAttr.STEP: "guard_input", **_request_attributes(request)}
        with node_span(config, "mesh.guard_input", attributes=attributes):
            messages, report = self.mesh.guardrails.check_messages(request.messages, context=guard_context(request))
        update: dict[str, Any] = {"session": session, "messages": messages, "verdicts": list(report.verdicts)}
        if report.blocked:
            update.update(blocked_update(blocked_error(report, "input"), "guard_input"))
        return update

    def redact(self, state: MeshState, config: RunnableConfig) -> dict[str, Any]:
        """Replace personal data with placeholders that the vault can reverse."""
        request = state["request"]
        with node_span(config, "mesh.redact", attributes={MeshAttr.STEP: "redact"}) as span:
            try:
                masked, entities = self.mesh.redactor.mask_messages(
                    state.get("messages", request.messages), tenant=request.tenant, session=state["session"]
                )
            except PolicyViolation as error:
                return blocked_update(error, "redact")
            span.set_attribute(MeshAttr.REDACTION_ENTITIES, len(entities))
        return {"masked_request": request.model_copy(update={"messages": masked}), "entities": entities}

    def cache_lookup(self, state: MeshState, config: RunnableConfig) -> dict[str, Any]:
        """Look for an earlier answer within the same scope; bypassed by ``no-cache`` and ``force-refresh``."""
        request, masked_request = state["request"], state["masked_request"]
        scope = self.mesh.cache.scope_for(
            masked_request, pii_fingerprint=pii_fingerprint(request.tenant, state.get("entities", []))
        )
        if request.cache_control is not CacheControl.DEFAULT:
            return {"scope": scope, "lookup": CacheLookup(hit=False)}
        with node_span(config, "mesh.cache.lookup", attributes={MeshAttr.STEP: "cache_lookup"}) as span:
            lookup = self.mesh.cache.lookup(masked_request, scope)
            span.set_attributes(cache_attributes(lookup))
        update: dict[str, Any] = {"scope": scope, "lookup": lookup}
        if lookup.hit and lookup.message is not None:
            update["masked_answer"] = lookup.message
        return update

    def route(self, state: MeshState, config: RunnableConfig) -> dict[str, Any]:
        """Rank the targets for the masked request; the edge after this node picks the model node."""
        with node_span(config, "mesh.route", attributes={MeshAttr.STEP: "route"}) as span:
            decision = self.mesh.router.route(state["masked_request"])
            span.set_attributes(decision.span_attributes())
        return {"decision": decision}

    # The model call.

    def model_node(self, target: str) -> RunnableLambda[MeshState, dict[str, Any]]:
        """Build the node that calls ``target`` first, then retries and falls back as the router plans.

        Budget is reserved before each attempt and released when the attempt fails; the
        usage node settles the successful attempt's reservation.
        """

        def call(state: MeshState, config: RunnableConfig) -> dict[str, Any]:
            return drive_sync(self._attempts(state, config))

        async def acall(state: MeshState, config: RunnableConfig) -> dict[str, Any]:
            return await drive_async(self._attempts(state, config))

        return RunnableLambda(call, afunc=acall, name=model_node_name(target))

    def _attempts(self, state: MeshState, config: RunnableConfig) -> Generator[Any, Any, dict[str, Any]]:
        """Run the attempt loop as a pipeline core, so the sync and async nodes share one body."""
        request, masked_request = state["request"], state["masked_request"]
        plan = self.mesh.router.plan(state["decision"], masked_request)
        failures: list[dict[str, str]] = []
        attempts = 0
        while (attempt := plan.next_attempt()) is not None:
            attempts += 1
            if attempt.delay_s > 0:
                yield Sleep(attempt.delay_s)
            with node_span(config, f"chat {model_name(attempt.target)}", kind=SpanKind.CLIENT) as span:
                span.set_attributes(_present(attempt_attributes(attempt, request)))
                try:
                    reservation = self.mesh.usage.reserve(request, attempt.target)
                except PolicyViolation as error:
                    return {**blocked_update(error, "model"), "attempts": attempts, "failed_attempts": failures}
                started = time.perf_counter()
                try:
                    answer = yield model_call(attempt, masked_request)
                except Exception as error:
                    plan.record_failure(attempt, error, time.perf_counter() - started)
                    failures.append({"target": attempt.target.name, "error": type(error).__name__})
                    logger.warning(
                        "model call failed: tenant=%s target=%s attempt=%d error=%s",
                        request.tenant,
                        attempt.target.name,
                        attempt.number,
                        type(error).__name__,
                    )
                    span.set_attribute(GenAI.ERROR_TYPE, type(error).__name__)
                    self.mesh.usage.release(reservation, error=error)
                    continue
                plan.record_success(attempt, time.perf_counter() - started)
                span.set_attributes(answer_attributes(answer, attempt.target))
                record_content(span, self.mesh.settings.tracing, input_messages=masked_request.messages, output=answer)
                usage = answer.usage_metadata
                if usage:
                    span.set_attribute(GenAI.USAGE_INPUT_TOKENS, usage["input_tokens"])
                    span.set_attribute(GenAI.USAGE_OUTPUT_TOKENS, usage["output_tokens"])
            return {
                "masked_answer": answer,
                "target": attempt.target,
                "reservation": reservation,
                "attempts": attempts,
                "failed_attempts": failures,
            }
        errors = "; ".join(f"{f['target']}: {f['error']}" for f in failures) or "no target available"
        raise TargetsExhausted(
            f"every target failed for tenant {request.tenant!r} after {attempts} attempts ({errors}); "
            "check the targets' health or add a fallback target",
            details={"attempts": attempts, "errors": [f"{f['target']}: {f['error']}" for f in failures]},
        )

    # After the model.

    def usage(self, state: MeshState, config: RunnableConfig) -> dict[str, Any]:
        """Settle the reservation with the reported usage, or record a cache read."""
        request = state["request"]
        with node_span(config, "mesh.usage", attributes={MeshAttr.STEP: "usage"}) as span:
            lookup = state.get("lookup")
            if lookup is not None and lookup.hit:
                record = self.mesh.usage.record_cache_read(request, lookup)
            else:
                record = self.mesh.usage.settle(
                    state["reservation"], request, state["target"], state["masked_answer"], streamed_text=None
                )
            span.set_attribute(GenAI.USAGE_INPUT_TOKENS, record.usage.input_tokens)
            span.set_attribute(GenAI.USAGE_OUTPUT_TOKENS, record.usage.output_tokens)
            span.set_attribute(GenAI.USAGE_CACHE_READ_INPUT_TOKENS, record.usage.cache_read_tokens)
            span.set_attribute(MeshAttr.USAGE_ESTIMATED, record.usage.estimated)
            if record.cost_usd is not None:
                span.set_attribute(MeshAttr.USAGE_COST_USD, record.cost_usd)
        return {"usage": record}

    def guard_output(self, state: MeshState, config: RunnableConfig) -> dict[str, Any]:
        """Screen the masked answer for leaks; a block ends the run."""
        request = state["request"]
        with node_span(config, "mesh.guard_output", attributes={MeshAttr.STEP: "guard_output"}):
            report = self.mesh.guardrails.check_output(state["masked_answer"], context=guard_context(request))
        update: dict[str, Any] = {"verdicts": [*state.get("verdicts", []), *report.verdicts]}
        if report.blocked:
            update.update(blocked_update(blocked_error(report, "output"), "guard_output"))
        return update

    def restore(self, state: MeshState, config: RunnableConfig) -> dict[str, Any]:
        """Put the original values back in place of the placeholders."""
        request = state["request"]
        with node_span(config, "mesh.restore", attributes={MeshAttr.STEP: "restore"}) as span:
            answer, count = self.mesh.redactor.restore_message(
                state["masked_answer"], tenant=request.tenant, session=state["session"]
            )
            span.set_attribute(MeshAttr.REDACTION_RESTORED, count)
        return {"answer": answer, "entities_restored": count}

    def cache_store(self, state: MeshState, config: RunnableConfig) -> dict[str, Any]:
        """Store the masked answer under the request's scope."""
        with node_span(config, "mesh.cache.store", attributes={MeshAttr.STEP: "cache_store"}):
            self.mesh.cache.store(
                state["masked_request"], state["scope"], state["masked_answer"], target=state["target"].name
            )
        return {}


def _request_attributes(request: MeshRequest) -> dict[str, Any]:
    return identity_attributes(
        {
            key: value
            for key, value in {
                "tenant": request.tenant,
                "user": request.user,
                "session": request.session,
                "run_id": request.run_id,
                "agent": request.agent,
            }.items()
            if value
        }
    )


def _present(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value is not None}
