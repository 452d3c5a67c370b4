"""A tool node that asks the mesh's tool-call guardrails before each tool runs.

The model's tool calls arrive with their arguments already restored (the mesh restores
placeholders in tool-call arguments), so the guardrails see the real values: allowed
tools per agent, the tool's JSON schema, argument patterns, destinations and secrets.
A blocked call does not run; the agent gets an error ``ToolMessage`` that names the
guardrail and the reason, and the other calls of the same turn still run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.prebuilt import ToolNode

from graphs.context import identity_from_config, node_span
from mesh_agents.guardrails.base import GuardContext
from mesh_agents.tracing import GenAI

if TYPE_CHECKING:
    from mesh_agents.mesh import Mesh

__all__ = ["guarded_tools"]

logger = logging.getLogger(__name__)


def guarded_tools(
    tools: Sequence[BaseTool], *, mesh: Mesh, agent: str | None = None, messages_key: str = "messages"
) -> RunnableLambda[Any, dict[str, Any]]:
    """Build a node that runs the last AI message's tool calls, each one checked by ``mesh.guardrails`` first.

    Args:
        tools: The tools the agent may call; they run through LangGraph's ``ToolNode``, so
            ``InjectedState`` and ``InjectedToolCallId`` arguments work as usual.
        mesh: The mesh whose tool-call guardrails apply; the tenant comes from the run's config.
        agent: Agent whose allowed-tools policy applies; defaults to the run's agent.
        messages_key: State key of the message list.

    Each call that runs gets an ``execute_tool {name}`` span.
    """
    by_name = {tool.name: tool for tool in tools}
    runner = ToolNode(list(tools), messages_key=messages_key)

    def node(state: Any, config: RunnableConfig) -> dict[str, Any]:
        identity = identity_from_config(config)
        tenant = identity.get("tenant")
        if not tenant:
            raise ValueError("no tenant in the run's config; pass config={'configurable': {'tenant': ...}}")
        context = GuardContext(tenant=tenant, agent=agent or identity.get("agent"))
        last = state[messages_key][-1]
        if not isinstance(last, AIMessage):
            return {messages_key: []}

        results: list[ToolMessage] = []
        for call in last.tool_calls:
            tool = by_name.get(call["name"])
            schema = tool.tool_call_schema.model_json_schema() if tool is not None else None  # type: ignore[union-attr]
            report = mesh.guardrails.check_tool_call(call["name"], call["args"], context=context, schema=schema)
            if report.blocked:
                results.append(_blocked_result(call, report.verdicts))
                continue
            single = last.model_copy(update={"tool_calls": [call]})
            attributes = {GenAI.OPERATION_NAME: "execute_tool", GenAI.TOOL_NAME: call["name"]}
            with node_span(config, f"execute_tool {call['name']}", attributes=attributes):
                output = runner.invoke({**state, messages_key: [*state[messages_key][:-1], single]}, config)
            results.extend(output[messages_key])
        return {messages_key: results}

    return RunnableLambda(node, name="guarded_tools")


def _blocked_result(call: ToolCall, verdicts: Sequence[Any]) -> ToolMessage:
    verdict = next((v for v in verdicts if v.action.value == "block"), None)
    guardrail = verdict.guardrail if verdict is not None else "tool_call"
    reason = verdict.reason if verdict is not None else "blocked"
    logger.info("tool call blocked: tool=%s guardrail=%s reason=%s", call["name"], guardrail, reason)
    return ToolMessage(
        f"Tool call blocked by the guardrail {guardrail!r} ({reason}); the tool did not run.",
        tool_call_id=call["id"] or "",
        name=call["name"],
        status="error",
    )
