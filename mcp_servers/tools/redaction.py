"""Tools of the redaction capability: redact and restore."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from opentelemetry import trace
from pydantic import BaseModel, Field

from mcp_servers._tooling import OptionalSession, Session, Tenant, add_tool, check_text_size
from mcp_servers.errors import safe_tool
from mesh_agents.tracing import Mesh as MeshAttr

__all__ = ["EntityOut", "RedactOutput", "RestoreOutput", "register"]


class EntityOut(BaseModel):
    """One entity found in the text; the value itself is never returned."""

    label: str = Field(description="Entity label such as 'email' or 'person'.")
    start: int = Field(description="Start offset in the original text, in characters.")
    end: int = Field(description="End offset in the original text, exclusive.")
    score: float = Field(description="Detector confidence, 0 to 1.")
    detector: str = Field(description="Detector that found it, such as 'patterns'.")
    placeholder: str | None = Field(description="Placeholder put in its place; None when removed without a way back.")


class RedactOutput(BaseModel):
    """The text with personal data replaced by placeholders."""

    text: str = Field(description="The masked text.")
    session: str = Field(description="Session to pass to restore; a new one when the call gave none.")
    entities: list[EntityOut]


class RestoreOutput(BaseModel):
    """The text with placeholders replaced by the original values."""

    text: str
    restored: int = Field(description="Number of placeholders put back.")


def register(server: MCPServer[Any], mesh: Any) -> None:
    """Add the redact and restore tools."""
    max_chars = mesh.settings.max_input_chars

    @safe_tool("redact")
    def redact(
        text: Annotated[str, Field(description="Text that may contain personal data.")],
        tenant: Tenant,
        session: OptionalSession = None,
    ) -> RedactOutput:
        """Replace personal data (emails, phones, cards, IBANs, national ids, IPs; names with GLiNER) by placeholders.

        Placeholders such as <EMAIL_1> are stable within one tenant and session; pass
        the returned session to restore.
        """
        check_text_size("text", text, max_chars)
        mesh.settings.check_tenant(tenant)
        session_id = session or f"mcp-{uuid.uuid4().hex}"
        result = mesh.redactor.mask_text(text, tenant=tenant, session=session_id)
        entities = [
            EntityOut(
                label=entity.label,
                start=entity.start,
                end=entity.end,
                score=entity.score,
                detector=entity.detector,
                placeholder=placeholder,
            )
            for entity, placeholder in zip(result.entities, result.placeholders, strict=True)
        ]
        _annotate(**{MeshAttr.STEP: "redact", MeshAttr.REDACTION_ENTITIES: len(entities)})
        return RedactOutput(text=result.text, session=session_id, entities=entities)

    @safe_tool("restore")
    def restore(
        text: Annotated[str, Field(description="Text with placeholders, such as a model's answer.")],
        tenant: Tenant,
        session: Session,
    ) -> RestoreOutput:
        """Put the original values back in place of the placeholders that redact created."""
        check_text_size("text", text, max_chars)
        mesh.settings.check_tenant(tenant)
        restored_text, count = mesh.redactor.restore_text(text, tenant=tenant, session=session)
        _annotate(**{MeshAttr.STEP: "restore", MeshAttr.REDACTION_RESTORED: count})
        return RestoreOutput(text=restored_text, restored=count)

    add_tool(server, redact, name="redact", title="Redact personal data", read_only=False, idempotent=True)
    add_tool(server, restore, name="restore", title="Restore personal data", read_only=True)


def _annotate(**attributes: Any) -> None:
    """Add the step's counts to the current span, the SDK's ``tools/call`` span."""
    trace.get_current_span().set_attributes(attributes)
