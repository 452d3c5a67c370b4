"""Shared pieces of the tool modules: argument types, size checks and registration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import AfterValidator, ConfigDict, Field

from mesh_agents.errors import InvalidInputError
from mesh_agents.types import validate_identifier

__all__ = ["OptionalId", "OptionalSession", "Session", "Tenant", "add_tool", "check_text_size"]


def _tenant(value: str) -> str:
    return validate_identifier("tenant", value)


def _session(value: str) -> str:
    return validate_identifier("session", value)


def _optional_session(value: str | None) -> str | None:
    return None if value is None else validate_identifier("session", value)


def _optional_id(value: str | None) -> str | None:
    return None if value is None else validate_identifier("user or agent", value)


Tenant = Annotated[
    str,
    AfterValidator(_tenant),
    Field(description="Tenant whose policies, vault, cache and budget apply, such as 'acme'."),
]
Session = Annotated[
    str,
    AfterValidator(_session),
    Field(description="Conversation id; placeholders are only restorable within the same tenant and session."),
]
OptionalSession = Annotated[
    str | None,
    AfterValidator(_optional_session),
    Field(description="Conversation id; placeholders are only restorable within the same tenant and session."),
]

OptionalId = Annotated[
    str | None,
    AfterValidator(_optional_id),
    Field(description="Id of the user or agent behind the request, for per-user or per-agent policies."),
]


def check_text_size(field: str, text: str, max_chars: int) -> None:
    """Raise InvalidInputError when ``text`` is longer than ``max_chars`` characters, naming the field."""
    if len(text) > max_chars:
        raise InvalidInputError(
            f"{field} has {len(text)} characters, more than max_input_chars={max_chars}; "
            "send a shorter text or raise max_input_chars in mesh.yaml",
            details={"field": field, "chars": len(text), "max_input_chars": max_chars},
        )


def add_tool(
    server: MCPServer[Any],
    fn: Callable[..., Any],
    *,
    name: str,
    title: str,
    read_only: bool,
    idempotent: bool = True,
) -> None:
    """Register ``fn`` as a tool whose argument errors never echo the caller's values.

    The SDK reports a failed argument validation with pydantic's message, which by
    default quotes the rejected input; a prompt full of personal data would travel
    back to the client and into the server log. The argument model is therefore
    rebuilt with ``hide_input_in_errors``, so the message names the field and the rule.
    """
    annotations = ToolAnnotations(
        title=title, read_only_hint=read_only, idempotent_hint=idempotent, destructive_hint=not read_only
    )
    server.add_tool(fn, name=name, title=title, annotations=annotations, structured_output=True)
    # NOTE: MCPServer has no public way to reach a registered Tool, so the tool manager
    # is read directly; FuncMetadata documents that arg_model may be reassigned.
    tool = server._tool_manager.get_tool(name)
    if tool is None:
        raise RuntimeError(f"tool {name!r} was not registered")
    metadata = tool.fn_metadata
    base = metadata.arg_model
    metadata.arg_model = type(
        base.__name__,
        (base,),
        {"model_config": ConfigDict(**{**base.model_config, "hide_input_in_errors": True}), "__module__": __name__},
    )
