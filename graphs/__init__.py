"""LangGraph nodes, edges and wrappers that put the mesh around agents.

- ``build_mesh_graph(mesh)``: the mesh pipeline as a compiled graph, one node per step.
- ``MeshChatModel(mesh=...)``: the mesh as a chat model, for any agent's model calls.
- ``with_mesh(agent, name=...)``: an agent node or compiled graph as a traced mesh agent.
- ``invoke_workflow(graph, state, config)``: one ``invoke_workflow`` span (one trace) per run.
- ``guarded_tools(tools, mesh=...)``: a tool node that checks each call with the tool-call guardrails.

Importing this package loads nothing heavy; the names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphs.blocking import blocked_info, blocked_update
    from graphs.builder import MeshGraph, arun_mesh_graph, build_mesh_graph, result_from_state, run_mesh_graph
    from graphs.chat_model import MeshChatModel, mesh_metadata
    from graphs.nodes import MeshNodes
    from graphs.state import Blocked, MeshState
    from graphs.tools import guarded_tools
    from graphs.wrap import ainvoke_workflow, invoke_workflow, with_mesh

__all__ = [
    "Blocked",
    "MeshChatModel",
    "MeshGraph",
    "MeshNodes",
    "MeshState",
    "ainvoke_workflow",
    "arun_mesh_graph",
    "blocked_info",
    "blocked_update",
    "build_mesh_graph",
    "guarded_tools",
    "invoke_workflow",
    "mesh_metadata",
    "result_from_state",
    "run_mesh_graph",
    "with_mesh",
]

_MODULES = {
    "Blocked": "graphs.state",
    "MeshState": "graphs.state",
    "MeshChatModel": "graphs.chat_model",
    "mesh_metadata": "graphs.chat_model",
    "MeshGraph": "graphs.builder",
    "arun_mesh_graph": "graphs.builder",
    "build_mesh_graph": "graphs.builder",
    "result_from_state": "graphs.builder",
    "run_mesh_graph": "graphs.builder",
    "MeshNodes": "graphs.nodes",
    "blocked_info": "graphs.blocking",
    "blocked_update": "graphs.blocking",
    "guarded_tools": "graphs.tools",
    "ainvoke_workflow": "graphs.wrap",
    "invoke_workflow": "graphs.wrap",
    "with_mesh": "graphs.wrap",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'graphs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
