"""Map exceptions raised inside a tool to MCP tool errors whose text is safe to show.

A ``MeshError`` becomes a tool result with ``isError`` set and the error's
``safe_message``, prefixed with its code so a client can branch on it. Any other
exception becomes a generic message with an error id; its type and id are logged, and
its text only at DEBUG, because an exception from a store or a model client can
carry personal data.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from opentelemetry import trace

from mesh_agents.errors import MeshError
from mesh_agents.tracing import Mesh as MeshAttr

__all__ = ["safe_tool"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def safe_tool(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap a synchronous tool body so every failure reaches the client as a safe ``ToolError``."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except ToolError:
                raise
            except MeshError as exc:
                raise _mesh_tool_error(name, exc) from exc
            except Exception as exc:
                raise _unexpected_tool_error(name, exc) from exc

        return wrapper

    return decorate


def _mesh_tool_error(name: str, exc: MeshError) -> ToolError:
    trace.get_current_span().set_attribute(MeshAttr.ERROR_CODE, exc.code)
    logger.info("tool %s rejected a call: %s: %s", name, exc.code, exc.safe_message)
    return ToolError(f"{exc.code}: {exc.safe_message}")


def _unexpected_tool_error(name: str, exc: Exception) -> ToolError:
    error_id = uuid.uuid4().hex[:12]
    span = trace.get_current_span()
    span.set_attribute(MeshAttr.ERROR_CODE, "internal_error")
    span.set_attribute("mesh.error.id", error_id)
    logger.error("tool %s failed with %s (error id %s)", name, type(exc).__name__, error_id)
    # The traceback repeats the exception's text, which may quote the request.
    logger.debug("traceback of error id %s", error_id, exc_info=exc)
    return ToolError(f"internal_error: the {name} tool failed (error id {error_id}); the server log has the details")
