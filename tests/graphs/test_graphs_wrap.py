"""with_mesh and invoke_workflow on real compiled graphs: spans, run identity, blocked turns."""

from __future__ import annotations

import asyncio
import operator
import threading
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from graphs.blocking import blocked_info
from graphs.context import identity_from_config, node_span
from graphs.wrap import ainvoke_workflow, invoke_workflow, with_mesh
from mesh_agents.errors import BudgetExceeded, GuardrailBlocked


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    seen: Annotated[list[dict[str, str]], operator.add]


def _by_name(spans: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    finished = spans.get_finished_spans()
    return {span.name: span for span in finished}


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def _trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


def _recording_agent(name: str) -> Any:
    def agent(state: State, config: RunnableConfig) -> dict[str, Any]:
        with node_span(config, f"work {name}"):
            identity = identity_from_config()
        return {"messages": [AIMessage(f"{name} done", name=name)], "seen": [dict(identity)]}

    return agent


def _fan_out_graph() -> Any:
    graph = StateGraph(State)
    graph.add_node("billing", with_mesh(_recording_agent("billing"), name="billing"))
    graph.add_node("support", with_mesh(_recording_agent("support"), name="support"))
    graph.add_edge(START, "billing")
    graph.add_edge(START, "support")
    graph.add_edge("billing", END)
    graph.add_edge("support", END)
    return graph.compile()


CONFIG: RunnableConfig = {"configurable": {"tenant": "acme", "user": "anna", "thread_id": "acme-anna"}}


def test_agents_nest_under_workflow_span(spans: InMemorySpanExporter) -> None:
    invoke_workflow(_fan_out_graph(), {"messages": [HumanMessage("hi")]}, CONFIG, name="desk")
    by_name = _by_name(spans)
    workflow = by_name["invoke_workflow"]
    for agent in ("billing", "support"):
        agent_span = by_name[f"invoke_agent {agent}"]
        assert _parent_id(agent_span) == _span_id(workflow)
        assert _trace_id(agent_span) == _trace_id(workflow)
        work = by_name[f"work {agent}"]
        assert _parent_id(work) == _span_id(agent_span)
    assert workflow.attributes is not None
    assert workflow.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert workflow.attributes["gen_ai.workflow.name"] == "desk"
    assert workflow.attributes["mesh.tenant"] == "acme"


def test_agent_span_has_genai_attributes(spans: InMemorySpanExporter) -> None:
    invoke_workflow(_fan_out_graph(), {"messages": [HumanMessage("hi")]}, CONFIG)
    agent_span = _by_name(spans)["invoke_agent billing"]
    assert agent_span.attributes is not None
    assert agent_span.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent_span.attributes["gen_ai.agent.name"] == "billing"
    assert agent_span.attributes["mesh.session"] == "acme-anna"


def test_agents_nest_under_workflow_async(spans: InMemorySpanExporter) -> None:
    async def agent(state: State, config: RunnableConfig) -> dict[str, Any]:
        await asyncio.sleep(0)
        with node_span(config, "work async"):
            identity = identity_from_config()
        return {"messages": [AIMessage("done")], "seen": [dict(identity)]}

    graph = StateGraph(State)
    graph.add_node("support", with_mesh(agent, name="support"))
    graph.add_edge(START, "support")
    graph.add_edge("support", END)
    final = asyncio.run(ainvoke_workflow(graph.compile(), {"messages": [HumanMessage("hi")]}, CONFIG))
    by_name = _by_name(spans)
    assert _parent_id(by_name["invoke_agent support"]) == _span_id(by_name["invoke_workflow"])
    assert _parent_id(by_name["work async"]) == _span_id(by_name["invoke_agent support"])
    assert final["seen"][0]["agent"] == "support"
    assert final["seen"][0]["tenant"] == "acme"


def test_sync_agent_in_async_run(spans: InMemorySpanExporter) -> None:
    final = asyncio.run(ainvoke_workflow(_fan_out_graph(), {"messages": [HumanMessage("hi")]}, CONFIG))
    by_name = _by_name(spans)
    assert _parent_id(by_name["work billing"]) == _span_id(by_name["invoke_agent billing"])
    assert sorted(seen["agent"] for seen in final["seen"]) == ["billing", "support"]


def test_span_nests_from_thread_without_context(spans: InMemorySpanExporter) -> None:
    """A thread started by the agent does not inherit context variables; the config carries the parent."""

    def agent(state: State, config: RunnableConfig) -> dict[str, Any]:
        def work() -> None:
            with node_span(config, "work in thread"):
                pass

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive()
        return {}

    graph = StateGraph(State)
    graph.add_node("support", with_mesh(agent, name="support"))
    graph.add_edge(START, "support")
    graph.add_edge("support", END)
    invoke_workflow(graph.compile(), {"messages": [HumanMessage("hi")]}, CONFIG)
    by_name = _by_name(spans)
    assert _parent_id(by_name["work in thread"]) == _span_id(by_name["invoke_agent support"])


def test_agent_sees_run_identity() -> None:
    final = invoke_workflow(_fan_out_graph(), {"messages": [HumanMessage("hi")]}, CONFIG)
    seen = {entry["agent"]: entry for entry in final["seen"]}
    assert set(seen) == {"billing", "support"}
    for entry in seen.values():
        assert entry["tenant"] == "acme"
        assert entry["user"] == "anna"
        assert entry["session"] == "acme-anna"
        assert entry["run_id"].startswith("run-")
    assert seen["billing"]["run_id"] == seen["support"]["run_id"]


def test_workflow_keeps_given_run_id() -> None:
    config: RunnableConfig = {"configurable": {"tenant": "acme", "run_id": "run-fixed-1"}}
    final = invoke_workflow(_fan_out_graph(), {"messages": [HumanMessage("hi")]}, config)
    assert {entry["run_id"] for entry in final["seen"]} == {"run-fixed-1"}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            BudgetExceeded("budget 'tenant/day' of 1000 tokens is spent", details={"budget": "tenant/day"}),
            "budget_exceeded",
        ),
        (
            GuardrailBlocked("the input guardrail 'injection' blocked the request", details={"stage": "input"}),
            "guardrail_blocked",
        ),
    ],
)
def test_blocked_call_ends_turn_with_message(error: Exception, code: str) -> None:
    def agent(state: State) -> dict[str, Any]:
        raise error

    graph = StateGraph(State)
    graph.add_node("billing", with_mesh(agent, name="billing"))
    graph.add_edge(START, "billing")
    graph.add_edge("billing", END)
    final = invoke_workflow(graph.compile(), {"messages": [HumanMessage("hi")]}, CONFIG)
    last = final["messages"][-1]
    info = blocked_info(last)
    assert info is not None
    assert info["code"] == code
    assert isinstance(last, AIMessage)
    assert last.name == "billing"
    assert str(error) in last.text
    assert last.text.startswith("Request blocked by")


def test_other_errors_propagate() -> None:
    def agent(state: State) -> dict[str, Any]:
        raise RuntimeError("provider down")

    graph = StateGraph(State)
    graph.add_node("billing", with_mesh(agent, name="billing"))
    graph.add_edge(START, "billing")
    graph.add_edge("billing", END)
    with pytest.raises(RuntimeError, match="provider down"):
        invoke_workflow(graph.compile(), {"messages": [HumanMessage("hi")]}, CONFIG)


def test_wraps_compiled_graph(spans: InMemorySpanExporter) -> None:
    inner = StateGraph(State)
    inner.add_node("step", _recording_agent("inner"))
    inner.add_edge(START, "step")
    inner.add_edge("step", END)
    outer = StateGraph(State)
    outer.add_node("support", with_mesh(inner.compile(), name="support"))
    outer.add_edge(START, "support")
    outer.add_edge("support", END)
    final = invoke_workflow(outer.compile(), {"messages": [HumanMessage("hi")]}, CONFIG)
    by_name = _by_name(spans)
    assert _parent_id(by_name["work inner"]) == _span_id(by_name["invoke_agent support"])
    assert final["seen"][-1]["agent"] == "support"


def test_with_mesh_rejects_bad_agent_name() -> None:
    with pytest.raises(ValueError, match="invalid agent id"):
        with_mesh(_recording_agent("x"), name="bad name!")


def test_with_mesh_rejects_non_callable() -> None:
    with pytest.raises(TypeError, match="node function or a Runnable"):
        with_mesh(42, name="billing")  # type: ignore[arg-type]
