"""Tool of the guardrails capability: check_guardrails."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from opentelemetry import trace
from pydantic import BaseModel, Field

from mcp_servers._tooling import OptionalId, Tenant, add_tool, check_text_size
from mcp_servers.errors import safe_tool
from mesh_agents.guardrails.base import GuardContext
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.types import Source

__all__ = ["GuardrailCheckOutput", "VerdictOut", "register"]


class VerdictOut(BaseModel):
    """One guardrail's decision that is not a plain allow."""

    action: str = Field(description="allow, flag, rewrite or block.")
    guardrail: str = Field(description="Guardrail that decided, such as 'injection'.")
    score: float = Field(description="Confidence, 0 to 1.")
    reason: str = Field(description="Machine-friendly reason such as 'instruction_override'.")
    spans: list[tuple[int, int]] = Field(description="Offsets (start, end) of the text that triggered it.")


class GuardrailCheckOutput(BaseModel):
    """The merged decision of every guardrail that screened the text."""

    action: str = Field(description="The most severe action: allow, flag, rewrite or block.")
    blocked: bool
    verdicts: list[VerdictOut]
    rewritten: str | None = Field(description="The text with offending spans stripped, when a guardrail rewrote it.")
    elapsed_ms: float = Field(description="Time the check took, milliseconds.")


def register(server: MCPServer[Any], mesh: Any) -> None:
    """Add the check_guardrails tool."""
    max_chars = mesh.settings.max_input_chars

    @safe_tool("check_guardrails")
    def check_guardrails(
        text: Annotated[str, Field(description="Text to screen before a model or tool reads it.")],
        tenant: Tenant,
        source: Annotated[
            Source, Field(description="Where the text comes from; tool results get the indirect-injection checks.")
        ] = Source.USER,
        agent: OptionalId = None,
        tool_name: Annotated[str | None, Field(description="Tool whose arguments or result the text is.")] = None,
    ) -> GuardrailCheckOutput:
        """Screen a text for prompt injection, leaked secrets and other policy violations.

        A block is a normal result, not a tool error: ``blocked`` is true and ``verdicts`` give the reasons.
        """
        check_text_size("text", text, max_chars)
        mesh.settings.check_tenant(tenant)
        trace.get_current_span().set_attribute(MeshAttr.STEP, "check_guardrails")
        context = GuardContext(tenant=tenant, agent=agent, tool_name=tool_name)
        report = mesh.guardrails.check(text, source, context)
        verdicts = [
            VerdictOut(
                action=verdict.action.value,
                guardrail=verdict.guardrail,
                score=verdict.score,
                reason=verdict.reason,
                spans=[tuple(span) for span in verdict.spans],
            )
            for verdict in report.verdicts
        ]
        rewritten = report.text if report.text is not None and report.text != text else None
        return GuardrailCheckOutput(
            action=report.action.value,
            blocked=report.blocked,
            verdicts=verdicts,
            rewritten=rewritten,
            elapsed_ms=report.elapsed_ms,
        )

    add_tool(server, check_guardrails, name="check_guardrails", title="Check guardrails", read_only=True)
