"""Run context for graphs: who is asking, and the OpenTelemetry parent of every node's span.

LangGraph runs nodes in worker threads (sync) or tasks (async), and a node may start a
nested graph or model call. Relying on the thread's current OpenTelemetry context
alone would detach spans whenever a runner does not copy context variables, so every
span-opening wrapper here also stores its context in ``config["configurable"]``.
Nodes attach that stored context before they open their own span, which puts them
under the workflow or agent span in any thread or task.

Configurable keys read by the mesh nodes and ``MeshChatModel``:

- ``tenant``, ``user``, ``session`` (or LangGraph's ``thread_id``), ``run_id``: the requester.
- ``agent``: the agent node that makes the call; set by ``with_mesh``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind

from mesh_agents.tracing import GenAI, step_span
from mesh_agents.tracing import Mesh as MeshAttr

__all__ = [
    "OTEL_CONTEXT_KEY",
    "RunIdentity",
    "child_config",
    "identity_from_config",
    "node_span",
    "opened_span",
]

OTEL_CONTEXT_KEY = "__mesh_otel_context"
"""Configurable key of the OpenTelemetry context that nodes of this run nest under."""

_IDENTITY_KEYS = ("tenant", "user", "session", "run_id", "agent")


class RunIdentity(dict[str, str]):
    """Ids of the requester: ``tenant``, ``user``, ``session``, ``run_id`` and ``agent``, where known."""


def identity_from_config(config: RunnableConfig | None = None) -> RunIdentity:
    """Read the run identity from ``config``, or from the config of the runnable being run.

    LangGraph's ``thread_id`` serves as the session when ``session`` is not set.
    """
    configurable: Mapping[str, Any] = ensure_config(config).get("configurable") or {}
    identity = RunIdentity()
    for key in _IDENTITY_KEYS:
        value = configurable.get(key)
        if isinstance(value, str) and value:
            identity[key] = value
    thread = configurable.get("thread_id")
    if "session" not in identity and isinstance(thread, str) and thread:
        identity["session"] = thread
    return identity


def child_config(config: RunnableConfig | None, **configurable: Any) -> RunnableConfig:
    """Return a copy of ``config`` with ``configurable`` entries added or replaced."""
    base = ensure_config(config)
    merged = dict(base.get("configurable") or {})
    merged.update({key: value for key, value in configurable.items() if value is not None})
    return RunnableConfig(**{**base, "configurable": merged})


@contextmanager
def node_span(
    config: RunnableConfig | None,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """Open ``name`` as a child of the run's stored context, whatever thread or task runs the node."""
    stored = (ensure_config(config).get("configurable") or {}).get(OTEL_CONTEXT_KEY)
    token = otel_context.attach(stored) if stored is not None else None
    try:
        with step_span(name, kind=kind, attributes=attributes) as span:
            yield span
    finally:
        if token is not None:
            otel_context.detach(token)


@contextmanager
def opened_span(
    config: RunnableConfig | None,
    name: str,
    *,
    attributes: dict[str, Any] | None = None,
    **configurable: Any,
) -> Iterator[tuple[Span, RunnableConfig]]:
    """Open ``name`` under the run's context and return a child config that carries the new span.

    Pass the returned config to whatever runs inside, so its nodes nest under this span.
    """
    with node_span(config, name, attributes=attributes) as span:
        inner = child_config(config, **configurable, **{OTEL_CONTEXT_KEY: otel_context.get_current()})
        yield span, inner


def new_run_id() -> str:
    """Return a fresh run id for one graph invocation."""
    return f"run-{uuid.uuid4().hex[:16]}"


def identity_attributes(identity: Mapping[str, str]) -> dict[str, Any]:
    """Span attributes for the run identity; ids only, never text."""
    return {
        MeshAttr.TENANT: identity.get("tenant"),
        MeshAttr.USER: identity.get("user"),
        MeshAttr.SESSION: identity.get("session"),
        MeshAttr.RUN_ID: identity.get("run_id"),
        GenAI.AGENT_NAME: identity.get("agent"),
        GenAI.CONVERSATION_ID: identity.get("session"),
    }
