"""Put the mesh around an agent node or a compiled graph, and trace a workflow run.

``with_mesh`` turns an agent (a node function, any Runnable, or a compiled graph)
into a node that

- opens an ``invoke_agent {name}`` span under the workflow's span, in any thread or task;
- passes the agent name and run id to the ``MeshChatModel`` calls inside, so the
  mesh's budgets, ledger and spans see the agent;
- ends the agent's turn with a clear final message when a policy of the mesh blocked a
  call (guardrail, redaction or budget), instead of failing the whole workflow.

The mesh applies to the model calls the agent makes through ``MeshChatModel``; an
agent that calls a provider directly bypasses it. ``invoke_workflow`` runs a compiled
workflow under one ``invoke_workflow`` span, so each run is one trace.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import set_config_context

from graphs.blocking import blocked_update
from graphs.context import identity_attributes, identity_from_config, new_run_id, opened_span
from mesh_agents.errors import BudgetExceeded, GuardrailBlocked, PolicyViolation, RedactionBlocked
from mesh_agents.tracing import GenAI
from mesh_agents.types import validate_identifier

__all__ = ["ainvoke_workflow", "invoke_workflow", "with_mesh"]

logger = logging.getLogger(__name__)

AgentNode = Callable[..., Any] | Runnable[Any, Any]


def with_mesh(agent: AgentNode, *, name: str, messages_key: str = "messages") -> RunnableLambda[Any, Any]:
    """Wrap an agent node or compiled graph so it runs as a traced agent of the mesh.

    Args:
        agent: A node function ``(state)`` or ``(state, config)``, sync or async, or a
            Runnable such as a compiled graph.
        name: Agent name for spans, budgets and the ledger (``gen_ai.agent.name``).
        messages_key: State key of the message list; a blocked turn appends its final
            message there.

    Returns:
        A node to add to a ``StateGraph``; it works with ``invoke`` and ``ainvoke``.
    """
    validate_identifier("agent", name)
    call, acall = _callables(agent)

    def node(state: Any, config: RunnableConfig) -> Any:
        with _agent_scope(config, name) as inner:
            try:
                with set_config_context(inner) as context:
                    return context.run(call, state, inner)
            except PolicyViolation as error:
                return _blocked_turn(error, name, messages_key)

    async def anode(state: Any, config: RunnableConfig) -> Any:
        with _agent_scope(config, name) as inner:
            try:
                return await acall(state, inner)
            except PolicyViolation as error:
                return _blocked_turn(error, name, messages_key)

    return RunnableLambda(node, afunc=anode, name=name)


def invoke_workflow(
    graph: Runnable[Any, Any], state: Any, config: RunnableConfig | None = None, *, name: str = "workflow"
) -> Any:
    """Run a compiled workflow under one ``invoke_workflow`` span; every node nests under it.

    A ``run_id`` is added to ``config["configurable"]`` when it has none, so the ledger
    and the spans can group the run's model calls.
    """
    with _workflow_scope(config, name) as inner:
        return graph.invoke(state, config=inner)


async def ainvoke_workflow(
    graph: Runnable[Any, Any], state: Any, config: RunnableConfig | None = None, *, name: str = "workflow"
) -> Any:
    """Async form of ``invoke_workflow``."""
    with _workflow_scope(config, name) as inner:
        return await graph.ainvoke(state, config=inner)


class _Scope:
    """Context manager that opens a span and yields the child config, for sync and async bodies."""

    def __init__(self, config: RunnableConfig | None, span_name: str, attributes: dict[str, Any], **extra: Any):
        self._manager = opened_span(config, span_name, attributes=attributes, **extra)

    def __enter__(self) -> RunnableConfig:
        _, inner = self._manager.__enter__()
        return inner

    def __exit__(self, *exc: Any) -> Any:
        return self._manager.__exit__(*exc)


def _workflow_scope(config: RunnableConfig | None, name: str) -> _Scope:
    identity = identity_from_config(config)
    run_id = identity.get("run_id") or new_run_id()
    attributes = {
        GenAI.OPERATION_NAME: "invoke_workflow",
        "gen_ai.workflow.name": name,
        **identity_attributes({**identity, "run_id": run_id}),
    }
    return _Scope(config, "invoke_workflow", attributes, run_id=run_id)


def _agent_scope(config: RunnableConfig, name: str) -> _Scope:
    identity = identity_from_config(config)
    attributes = {GenAI.OPERATION_NAME: "invoke_agent", **identity_attributes({**identity, "agent": name})}
    return _Scope(config, f"invoke_agent {name}", attributes, agent=name)


def _blocked_turn(error: PolicyViolation, agent: str, messages_key: str) -> dict[str, Any]:
    logger.info("agent turn blocked by policy: agent=%s code=%s", agent, error.code)
    answer: AIMessage = blocked_update(error, _stage_of(error))["answer"]
    answer.name = agent
    return {messages_key: [answer]}


def _stage_of(error: PolicyViolation) -> str:
    """Name the mesh step that raised ``error``, as the mesh graph's ``blocked`` entries do."""
    if isinstance(error, BudgetExceeded):
        return "model"
    if isinstance(error, RedactionBlocked):
        return "redact"
    if isinstance(error, GuardrailBlocked):
        return "guard_output" if error.details.get("stage") == "output" else "guard_input"
    return "policy"


def _callables(
    agent: AgentNode,
) -> tuple[Callable[[Any, RunnableConfig], Any], Callable[[Any, RunnableConfig], Awaitable[Any]]]:
    """Return sync and async callables ``(state, config)`` for any kind of agent."""
    if isinstance(agent, Runnable):
        runnable = agent
        return (lambda state, config: runnable.invoke(state, config)), (
            lambda state, config: runnable.ainvoke(state, config)
        )
    if not callable(agent):
        raise TypeError(f"with_mesh needs a node function or a Runnable, not {type(agent).__name__}")
    takes_config = _accepts_config(agent)

    def call(state: Any, config: RunnableConfig) -> Any:
        result = agent(state, config) if takes_config else agent(state)
        if inspect.isawaitable(result):
            raise TypeError(f"agent {getattr(agent, '__name__', agent)!r} is async; run the workflow with ainvoke")
        return result

    async def acall(state: Any, config: RunnableConfig) -> Any:
        # The agent's own model calls read the run's config from a context variable, so
        # both a sync agent and an async agent's task run in a context that has it set.
        with set_config_context(config) as context:
            if not inspect.iscoroutinefunction(agent):
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(None, context.run, call, state, config)
            coroutine = agent(state, config) if takes_config else agent(state)
            return await asyncio.create_task(coroutine, context=context)

    return call, acall


def _accepts_config(function: Callable[..., Any]) -> bool:
    try:
        parameters: Mapping[str, inspect.Parameter] = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "config" in parameters or len(parameters) >= 2
