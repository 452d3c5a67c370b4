"""Conditional edges of the mesh graph: they read the state and name the next node."""

from __future__ import annotations

from langgraph.graph import END

from graphs.nodes import model_node_name
from graphs.state import MeshState
from mesh_agents.types import CacheControl

__all__ = ["after_cache_lookup", "after_restore", "after_route", "continue_unless_blocked"]


def continue_unless_blocked(next_node: str) -> object:
    """Return an edge that goes to ``next_node``, or ends the run when a policy blocked it."""

    def edge(state: MeshState) -> str:
        return END if "blocked" in state else next_node

    edge.__name__ = f"unless_blocked_to_{next_node}"
    return edge


def after_cache_lookup(state: MeshState) -> str:
    """Send a hit straight to usage (a cache read), skipping routing and the model; a miss goes to route."""
    lookup = state.get("lookup")
    return "usage" if lookup is not None and lookup.hit else "route"


def after_route(state: MeshState) -> str:
    """Send the request to the model node of the router's first choice."""
    return model_node_name(state["decision"].chosen)


def after_restore(state: MeshState) -> str:
    """Store fresh answers; a served hit or a ``no-cache`` request ends here."""
    lookup = state.get("lookup")
    if lookup is not None and lookup.hit:
        return END
    if state["request"].cache_control is CacheControl.NO_CACHE:
        return END
    return "cache_store"
