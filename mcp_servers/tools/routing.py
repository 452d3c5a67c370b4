"""Tool of the routing capability: route."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from mcp.server.mcpserver import MCPServer
from opentelemetry import trace
from pydantic import BaseModel, Field

from mcp_servers._tooling import OptionalId, Tenant, add_tool, check_text_size
from mcp_servers.errors import safe_tool
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.types import MeshRequest, ModelParams

__all__ = ["RouteOutput", "register"]


class RouteOutput(BaseModel):
    """The targets to try, in order, with the reasons."""

    target: str = Field(description="The target to call first.")
    fallbacks: list[str] = Field(description="Targets to try next, in order, if the first one fails.")
    route: str | None = Field(description="Semantic route that matched, if any.")
    explanation: dict[str, Any] = Field(
        description="Policies applied, each candidate's scores and removal reason, and the winner. No request text."
    )


def register(server: MCPServer[Any], mesh: Any) -> None:
    """Add the route tool."""
    max_chars = mesh.settings.max_input_chars

    @safe_tool("route")
    def route(
        prompt: Annotated[str, Field(description="The request text the model would receive.")],
        tenant: Tenant,
        model: Annotated[
            str | None, Field(description="Target the caller asks for; None lets the router choose.")
        ] = None,
        system: Annotated[str | None, Field(description="System prompt, if any.")] = None,
        max_tokens: Annotated[int | None, Field(ge=1, description="Output token cap of the planned call.")] = None,
        user: OptionalId = None,
        agent: OptionalId = None,
    ) -> RouteOutput:
        """Pick the target model for a request by the tenant's routing policy; returns fallbacks and the reasons."""
        check_text_size("prompt", prompt, max_chars)
        check_text_size("system", system or "", max_chars)
        mesh.settings.check_tenant(tenant)
        messages: list[BaseMessage] = [SystemMessage(system)] if system else []
        messages.append(HumanMessage(prompt))
        request = MeshRequest(
            messages=messages,
            tenant=tenant,
            model=model,
            user=user,
            agent=agent,
            params=ModelParams(max_tokens=max_tokens),
        )
        decision = mesh.router.route(request)
        span = trace.get_current_span()
        span.set_attributes(
            {MeshAttr.STEP: "route", MeshAttr.ROUTE_TARGET: decision.chosen, MeshAttr.ROUTE_CANDIDATES: decision.ranked}
        )
        if decision.route:
            span.set_attribute(MeshAttr.ROUTE_NAME, decision.route)
        return RouteOutput(
            target=decision.chosen, fallbacks=decision.fallbacks, route=decision.route, explanation=decision.explanation
        )

    add_tool(server, route, name="route", title="Route a request", read_only=True)
