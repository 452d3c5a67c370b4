"""A compiled LangGraph workflow calls the MCP server in another process: one trace end to end."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph

from graphs import ainvoke_workflow, with_mesh
from mcp_servers.client import connect_http, structured
from mesh_agents.mesh import Mesh
from mesh_agents.routing.targets import target_from_model
from mesh_agents.settings import MeshSettings
from mesh_agents.testing.mcp_process import MCPServerProcess
from mesh_agents.testing.otlp_receiver import OTLPReceiver, ReceivedSpan
from mesh_agents.tracing import current_trace_id, use_baggage
from mesh_agents.types import MeshRequest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

QUESTION = "My email is jane.doe@example.com and I was charged twice. Can you refund me?"


class SupportState(TypedDict, total=False):
    question: str
    masked: str
    session: str
    target: str
    answer: str
    trace_id: str


def _workflow(url: str, mesh: Mesh) -> Any:
    async def triage(state: SupportState) -> SupportState:
        async with connect_http(url) as session:
            masked = structured(await session.call_tool("redact", {"text": state["question"], "tenant": "acme"}))
            screened = {"text": masked["text"], "tenant": "acme"}
            guard = structured(await session.call_tool("check_guardrails", screened))
            route = structured(await session.call_tool("route", {"prompt": masked["text"], "tenant": "acme"}))
        assert guard["blocked"] is False
        return {
            "masked": masked["text"],
            "session": masked["session"],
            "target": route["target"],
            "trace_id": current_trace_id() or "",
        }

    async def support(state: SupportState) -> SupportState:
        request = MeshRequest(
            messages=[HumanMessage(state["masked"])],
            tenant="acme",
            agent="support",
            session=state["session"],
            model=state["target"],
        )
        result = await mesh.ainvoke(request)
        arguments = {"text": str(result.message.content), "tenant": "acme", "session": state["session"]}
        async with connect_http(url) as session:
            restored = structured(await session.call_tool("restore", arguments))
        return {"answer": restored["text"]}

    graph = StateGraph(SupportState)
    graph.add_node("triage", with_mesh(triage, name="triage"))
    graph.add_node("support", with_mesh(support, name="support"))
    graph.add_edge(START, "triage")
    graph.add_edge("triage", "support")
    graph.add_edge("support", END)
    return graph.compile()


def _mesh() -> Mesh:
    answer = AIMessage(
        "We refunded the duplicate charge; a receipt goes to <EMAIL_1>.",
        usage_metadata={"input_tokens": 21, "output_tokens": 14, "total_tokens": 35},
        response_metadata={"finish_reason": "stop", "model_name": "gpt-4o-mini"},
    )
    model = GenericFakeChatModel(messages=iter([answer]))
    settings = MeshSettings.model_validate(
        {"cache": {"enabled": False}, "guardrails": {"injection": {"classifier": {"enabled": False}}}}
    )
    target = target_from_model("small", model, provider="openai", model_name="gpt-4o-mini")
    return Mesh(settings, targets={"small": target})


def _one(spans: list[ReceivedSpan], name: str, kind: str | None = None) -> ReceivedSpan:
    found = [span for span in spans if span.name == name and (kind is None or span.kind == kind)]
    assert len(found) == 1, (name, kind, sorted(span.name for span in spans))
    return found[0]


async def test_workflow_and_server_share_one_trace(mesh_http: MCPServerProcess, otlp: tuple[OTLPReceiver, Any]) -> None:
    receiver, telemetry = otlp
    workflow = _workflow(mesh_http.url, _mesh())
    with use_baggage(tenant="acme", user="u-5", session="s-flow"):
        final = await ainvoke_workflow(workflow, {"question": QUESTION}, name="support-flow")
    trace_id = final["trace_id"]
    assert len(trace_id) == 32
    assert final["answer"] == "We refunded the duplicate charge; a receipt goes to jane.doe@example.com."
    telemetry.force_flush()

    def complete(spans: list[ReceivedSpan]) -> bool:
        names = {(span.name, span.kind) for span in spans if span.trace_id == trace_id}
        return {("tools/call restore", "SERVER"), ("tools/call route", "SERVER")} <= names

    spans = [span for span in receiver.wait_for_spans(complete, timeout_s=30) if span.trace_id == trace_id]
    root = _one(spans, "invoke_workflow")
    triage = _one(spans, "invoke_agent triage")
    support = _one(spans, "invoke_agent support")
    assert root.parent_span_id == ""
    assert root.attributes["gen_ai.workflow.name"] == "support-flow"
    assert triage.parent_span_id == root.span_id
    assert support.parent_span_id == root.span_id

    for tool, agent in [("redact", triage), ("check_guardrails", triage), ("route", triage), ("restore", support)]:
        client = _one(spans, f"tools/call {tool}", "CLIENT")
        server = _one(spans, f"tools/call {tool}", "SERVER")
        assert client.parent_span_id == agent.span_id, tool
        assert server.parent_span_id == client.span_id, tool
        assert client.service_name != server.service_name
        assert server.service_name == "mesh-server"
        assert server.attributes["gen_ai.tool.name"] == tool
        assert server.attributes["mesh.tenant"] == "acme"
        assert server.attributes["mesh.user"] == "u-5"

    request = _one(spans, "mesh.request")
    chat = _one(spans, "chat gpt-4o-mini", "CLIENT")
    assert request.parent_span_id == support.span_id
    assert chat.parent_span_id == request.span_id
    assert chat.attributes["gen_ai.usage.input_tokens"] == 21
    assert chat.attributes["gen_ai.usage.output_tokens"] == 14
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert _one(spans, "tools/call redact", "SERVER").attributes["mesh.redaction.entities"] == 1
    assert _one(spans, "tools/call route", "SERVER").attributes["mesh.route.target"] == "small"
    guard_spans = [span for span in spans if span.name.startswith("apply_guardrail")]
    assert guard_spans
    assert all(span.trace_id == trace_id for span in guard_spans)
