"""Build the mesh as a compiled LangGraph graph and run requests through it.

The graph::

    START -> guard_input -(blocked: END)-> redact -(blocked: END)-> cache_lookup
    cache_lookup -(hit)-> usage
    cache_lookup -(miss)-> route -> model[<chosen target>] -(budget blocked: END)-> usage
    usage -> guard_output -(blocked: END)-> restore -(fresh answer)-> cache_store -> END

There is one model node per target, so the trace and LangGraph's stream show which
model answered; each model node also carries out the router's retries and fallbacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.context import identity_attributes, opened_span
from graphs.edges import after_cache_lookup, after_restore, after_route, continue_unless_blocked
from graphs.nodes import MeshNodes, model_node_name
from graphs.state import MeshState
from mesh_agents.errors import ConfigurationError, GuardrailBlocked, PolicyViolation
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.types import MeshRequest, MeshResult

if TYPE_CHECKING:
    from mesh_agents.mesh import Mesh

__all__ = ["MeshGraph", "arun_mesh_graph", "build_mesh_graph", "result_from_state", "run_mesh_graph"]

MeshGraph = CompiledStateGraph[MeshState, Any, MeshState, MeshState]


def build_mesh_graph(mesh: Mesh, *, name: str = "mesh") -> MeshGraph:
    """Compile the mesh pipeline as a LangGraph graph whose nodes call ``mesh``'s capabilities.

    Invoke it with ``{"request": MeshRequest(...)}``; the final state contains ``answer``
    and, when a policy stopped the run, ``blocked``. ``run_mesh_graph`` does that and
    opens the request's span.

    Raises:
        ConfigurationError: the router has no targets.
    """
    nodes = MeshNodes(mesh)
    targets = [target if isinstance(target, str) else target.name for target in mesh.router.targets]
    if not targets:
        raise ConfigurationError("the mesh has no targets; add targets under 'routing.targets' or pass targets=")

    graph = StateGraph(MeshState)
    graph.add_node("guard_input", nodes.guard_input)
    graph.add_node("redact", nodes.redact)
    graph.add_node("cache_lookup", nodes.cache_lookup)
    graph.add_node("route", nodes.route)
    for target in targets:
        graph.add_node(model_node_name(target), nodes.model_node(target))
    graph.add_node("usage", nodes.usage)
    graph.add_node("guard_output", nodes.guard_output)
    graph.add_node("restore", nodes.restore)
    graph.add_node("cache_store", nodes.cache_store)

    graph.add_edge(START, "guard_input")
    graph.add_conditional_edges("guard_input", continue_unless_blocked("redact"), ["redact", END])  # type: ignore[arg-type]
    graph.add_conditional_edges("redact", continue_unless_blocked("cache_lookup"), ["cache_lookup", END])  # type: ignore[arg-type]
    graph.add_conditional_edges("cache_lookup", after_cache_lookup, ["usage", "route"])
    graph.add_conditional_edges("route", after_route, [model_node_name(target) for target in targets])
    for target in targets:
        graph.add_conditional_edges(model_node_name(target), continue_unless_blocked("usage"), ["usage", END])  # type: ignore[arg-type]
    graph.add_edge("usage", "guard_output")
    graph.add_conditional_edges("guard_output", continue_unless_blocked("restore"), ["restore", END])  # type: ignore[arg-type]
    graph.add_conditional_edges("restore", after_restore, ["cache_store", END])
    graph.add_edge("cache_store", END)
    return graph.compile(name=name)


def run_mesh_graph(graph: MeshGraph, request: MeshRequest, config: RunnableConfig | None = None) -> MeshState:
    """Run one request through ``graph`` under a ``mesh.request`` span; return the final state."""
    with opened_span(config, "mesh.request", attributes=_attributes(request)) as (span, inner):
        state: MeshState = graph.invoke({"request": request}, config=inner)  # type: ignore[assignment]
        _annotate(span, state)
    return state


async def arun_mesh_graph(graph: MeshGraph, request: MeshRequest, config: RunnableConfig | None = None) -> MeshState:
    """Async form of ``run_mesh_graph``."""
    with opened_span(config, "mesh.request", attributes=_attributes(request)) as (span, inner):
        state: MeshState = await graph.ainvoke({"request": request}, config=inner)  # type: ignore[assignment]
        _annotate(span, state)
    return state


def result_from_state(state: MeshState) -> MeshResult:
    """Turn a final state into a ``MeshResult``, raising the policy error when the run was blocked.

    Raises:
        GuardrailBlocked, BudgetExceeded, RedactionBlocked: the run was blocked; the
            error carries the same safe message and details as ``Mesh.invoke`` raises.
    """
    blocked = state.get("blocked")
    if blocked is not None:
        raise _error_for(blocked["code"])(blocked["message"], details=blocked["details"])
    lookup = state.get("lookup")
    target = state.get("target")
    answer: AIMessage = state["answer"]
    details: dict[str, Any] = {
        "input_verdicts": state.get("verdicts", []),
        "cache": lookup,
        "route": state.get("decision"),
        "usage": state.get("usage"),
        "attempts": state.get("attempts", 0),
        "masked_answer": state.get("masked_answer"),
    }
    if state.get("failed_attempts"):
        details["failed_attempts"] = state["failed_attempts"]
    cache_hit = bool(lookup is not None and lookup.hit)
    if cache_hit and lookup is not None:
        target_name = lookup.target
    else:
        target_name = target.name if target is not None else None
    return MeshResult(
        message=answer,
        target=target_name,
        cache_hit=cache_hit,
        entities_masked=len(state.get("entities", [])),
        entities_restored=state.get("entities_restored", 0),
        details=details,
    )


def _error_for(code: str) -> type[PolicyViolation]:
    from mesh_agents.errors import BudgetExceeded, RedactionBlocked

    classes: dict[str, type[PolicyViolation]] = {
        GuardrailBlocked.code: GuardrailBlocked,
        BudgetExceeded.code: BudgetExceeded,
        RedactionBlocked.code: RedactionBlocked,
    }
    return classes.get(code, PolicyViolation)


def _attributes(request: MeshRequest) -> dict[str, Any]:
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


def _annotate(span: Any, state: MeshState) -> None:
    lookup = state.get("lookup")
    span.set_attribute(MeshAttr.CACHE_HIT, bool(lookup is not None and lookup.hit))
    span.set_attribute(MeshAttr.REDACTION_ENTITIES, len(state.get("entities", [])))
    span.set_attribute(MeshAttr.REDACTION_RESTORED, state.get("entities_restored", 0))
    target = state.get("target")
    if target is not None:
        span.set_attribute(MeshAttr.ROUTE_TARGET, target.name)
    blocked = state.get("blocked")
    if blocked is not None:
        span.set_attribute("error.type", blocked["code"])
