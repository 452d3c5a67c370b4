"""guarded_tools: the mesh's tool-call guardrails in front of LangGraph's ToolNode."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import InjectedState
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from graphs.tools import guarded_tools
from mesh_agents.mesh import Mesh
from mesh_agents.models import StandInChatModel
from mesh_agents.settings import MeshSettings

pytestmark = pytest.mark.slow  # builds a Mesh, which loads the embedding model once

RAN: list[str] = []


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    record: str


@tool
def run_shell(command: str) -> str:
    """Run a shell command on the support server."""
    RAN.append(command)
    return "done"


@tool
def lookup_record(query: str, state: Annotated[dict[str, Any], InjectedState]) -> str:
    """Look up the customer's record."""
    return state.get("record") or "no record"


def _graph(mesh: Mesh, tools: list[Any]) -> Any:
    model = StandInChatModel().bind_tools(tools, tool_choice="any")

    def agent(state: State, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"], config)]}

    graph = StateGraph(State)
    graph.add_node("agent", agent)
    graph.add_node("tools", guarded_tools(tools, mesh=mesh, agent="support"))
    graph.add_edge(START, "agent")
    graph.add_edge("agent", "tools")
    graph.add_edge("tools", END)
    return graph.compile()


@pytest.fixture(scope="module")
def mesh() -> Mesh:
    settings = MeshSettings.model_validate({"routing": {"default_target": "small"}})
    return Mesh(settings, targets={"small": StandInChatModel()})


CONFIG: Any = {"configurable": {"tenant": "acme"}}


def test_guarded_tools_block_destructive_call(mesh: Mesh) -> None:
    RAN.clear()
    final = _graph(mesh, [run_shell]).invoke({"messages": [HumanMessage("rm -rf / --no-preserve-root")]}, CONFIG)
    result = final["messages"][-1]
    assert isinstance(result, ToolMessage)
    assert result.status == "error"
    assert "destructive_command" in result.text
    assert RAN == []


def test_guarded_tools_run_allowed_call(mesh: Mesh, spans: InMemorySpanExporter) -> None:
    state = {"messages": [HumanMessage("Look up the record of ticket T-1")], "record": "ticket T-1: open"}
    final = _graph(mesh, [lookup_record]).invoke(state, CONFIG)
    result = final["messages"][-1]
    assert isinstance(result, ToolMessage)
    assert result.status == "success"
    assert result.text == "ticket T-1: open"
    names = [span.name for span in spans.get_finished_spans()]
    assert "execute_tool lookup_record" in names


def test_guarded_tools_need_tenant(mesh: Mesh) -> None:
    with pytest.raises(ValueError, match="no tenant"):
        _graph(mesh, [lookup_record]).invoke({"messages": [HumanMessage("Look up ticket T-1")]})
