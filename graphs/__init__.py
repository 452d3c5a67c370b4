"""LangGraph nodes, edges and wrappers that put the mesh around agents."""
