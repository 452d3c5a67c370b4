"""Tools of token and cost tracking: count_tokens and usage_report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langchain_core.messages import BaseMessage, convert_to_messages
from mcp.server.mcpserver import MCPServer
from opentelemetry import trace
from pydantic import BaseModel, Field

from mcp_servers._tooling import Tenant, add_tool, check_text_size
from mcp_servers.errors import safe_tool
from mesh_agents.errors import InvalidInputError
from mesh_agents.tracing import Mesh as MeshAttr

__all__ = ["ChatMessageIn", "TokenCountOutput", "UsageReportOutput", "UsageRow", "register"]

Grouping = Literal["tenant", "user", "agent", "model", "target", "session", "run"]


class ChatMessageIn(BaseModel):
    """One chat message in the OpenAI role/content form."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class TokenCountOutput(BaseModel):
    """A token count and how it was made."""

    tokens: int
    estimated: bool = Field(description="True unless the model's own tokenizer counted plain text.")
    tokenizer: str = Field(description="Tokenizer that counted, such as 'cl100k_base'.")


class UsageRow(BaseModel):
    """Ledger totals of one group."""

    group: str = Field(description="Value of the grouping, such as the tenant or model name.")
    calls: int
    cache_hits: int
    failed: int
    blocked: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int
    cached_tokens: int = Field(description="Tokens answered from the semantic cache instead of a model.")
    cost_usd: float
    saved_usd: float = Field(description="Estimated spend avoided by cache hits, US dollars.")
    unpriced: int = Field(description="Calls to models without a known price.")
    estimated: int = Field(description="Records whose token counts were estimated locally.")


class UsageReportOutput(BaseModel):
    """Ledger totals grouped as asked, most expensive first."""

    by: str
    rows: list[UsageRow]


def register(server: MCPServer[Any], mesh: Any) -> None:
    """Add the count_tokens and usage_report tools."""
    max_chars = mesh.settings.max_input_chars

    @safe_tool("count_tokens")
    def count_tokens(
        tenant: Tenant,
        text: Annotated[str | None, Field(description="Plain text to count; give this or messages.")] = None,
        messages: Annotated[
            list[ChatMessageIn] | None, Field(description="Chat messages to count, with per-message overhead.")
        ] = None,
        model: Annotated[str | None, Field(description="Model whose tokenizer to use when known.")] = None,
    ) -> TokenCountOutput:
        """Count the tokens of a text or a message list before sending it to a model."""
        mesh.settings.check_tenant(tenant)
        if (text is None) == (messages is None):
            raise InvalidInputError("pass either text or messages to count_tokens, not both and not neither")
        subject: str | list[BaseMessage]
        if text is not None:
            check_text_size("text", text, max_chars)
            subject = text
        else:
            assert messages is not None
            check_text_size("messages", "".join(message.content for message in messages), max_chars)
            subject = convert_to_messages([message.model_dump() for message in messages])
        trace.get_current_span().set_attribute(MeshAttr.STEP, "count_tokens")
        count = mesh.usage.count_tokens(subject, model=model)
        return TokenCountOutput(tokens=count.tokens, estimated=count.estimated, tokenizer=count.tokenizer)

    @safe_tool("usage_report")
    def usage_report(
        tenant: Tenant,
        by: Annotated[Grouping, Field(description="How to group the ledger.")] = "model",
        since_s: Annotated[
            float | None, Field(gt=0, description="Only the last this many seconds; None for the whole ledger.")
        ] = None,
    ) -> UsageReportOutput:
        """Report a tenant's calls, tokens, cache hits and cost, grouped by user, agent, model and so on."""
        mesh.settings.check_tenant(tenant)
        trace.get_current_span().set_attribute(MeshAttr.STEP, "usage_report")
        rows = mesh.usage.report(by=by, since_s=since_s, tenant=tenant)
        return UsageReportOutput(by=by, rows=[UsageRow(group=str(row.get(by)), **_columns(row)) for row in rows])

    add_tool(server, count_tokens, name="count_tokens", title="Count tokens", read_only=True)
    add_tool(server, usage_report, name="usage_report", title="Report usage and cost", read_only=True)


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in UsageRow.model_fields if name != "group" and name in row}
