"""W3C trace context and baggage across processes: MCP ``params._meta`` and HTTP headers.

The mesh puts three ids in W3C baggage so that every hop downstream (an MCP server, a
gateway, another agent) can scope a request without asking again:

==============  ====================
baggage key     meaning
==============  ====================
``mesh.tenant``   tenant whose policies apply
``mesh.user``     user who asked
``mesh.session``  conversation id
==============  ====================

Carriers are plain string mappings: an MCP request's ``_meta`` dict or HTTP headers.
The propagator is the global one (W3C ``traceparent``/``tracestate`` and ``baggage``
unless ``OTEL_PROPAGATORS`` configures others).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.context import Context

from mesh_agents.types import validate_identifier

__all__ = [
    "BAGGAGE_KEYS",
    "baggage_ids",
    "extract_context",
    "inject",
    "use_baggage",
    "with_baggage",
]

BAGGAGE_KEYS = {"tenant": "mesh.tenant", "user": "mesh.user", "session": "mesh.session"}
"""Baggage key of each id the mesh propagates."""

_TRACE_KEYS = ("traceparent", "tracestate")


def with_baggage(
    *,
    tenant: str | None = None,
    user: str | None = None,
    session: str | None = None,
    parent: Context | None = None,
) -> Context:
    """Return ``parent`` (default: the current context) with the given ids in its baggage.

    An id left as None keeps whatever value the parent context carries.

    Raises:
        ValueError: an id is not a valid identifier (1 to 128 letters, digits or ``_.:@-``).
    """
    result = parent if parent is not None else context.get_current()
    for kind, value in (("tenant", tenant), ("user", user), ("session", session)):
        if value is None:
            continue
        validate_identifier(kind, value)
        result = baggage.set_baggage(BAGGAGE_KEYS[kind], value, context=result)
    return result


@contextmanager
def use_baggage(
    *,
    tenant: str | None = None,
    user: str | None = None,
    session: str | None = None,
) -> Iterator[Context]:
    """Attach the ids as baggage for the ``with`` block, so every outgoing hop carries them."""
    token = context.attach(with_baggage(tenant=tenant, user=user, session=session))
    try:
        yield context.get_current()
    finally:
        context.detach(token)


def baggage_ids(ctx: Context | None = None) -> dict[str, str]:
    """Return the mesh ids found in the baggage of ``ctx`` (default: the current context).

    Keys are ``tenant``, ``user`` and ``session``; an id that is absent or not a valid
    identifier is left out, because baggage arrives from outside the process.
    """
    found: dict[str, str] = {}
    for kind, key in BAGGAGE_KEYS.items():
        value = baggage.get_baggage(key, context=ctx)
        if not isinstance(value, str):
            continue
        try:
            found[kind] = validate_identifier(kind, value)
        except ValueError:
            continue
    return found


def inject(carrier: MutableMapping[str, Any], ctx: Context | None = None) -> MutableMapping[str, Any]:
    """Write ``traceparent``, ``tracestate`` and ``baggage`` of ``ctx`` into ``carrier`` and return it."""
    propagate.inject(carrier, context=ctx)
    return carrier


def extract_context(
    meta: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Context | None:
    """Build the parent context of an inbound request from its ``_meta``, else its HTTP headers.

    Trace context and baggage are looked up independently, ``_meta`` first: a request
    whose ``_meta`` carries a ``traceparent`` but whose baggage came as an HTTP header
    gets both. Returns None when neither carrier has a valid ``traceparent`` or any
    baggage, so the caller keeps its ambient context rather than starting an orphan.
    """
    meta_carrier = _string_carrier(meta)
    header_carrier = _string_carrier(headers, lower=True)

    trace_source = None
    for carrier in (meta_carrier, header_carrier):
        candidate = _only(carrier, _TRACE_KEYS)
        if candidate.get("traceparent") and _has_valid_span(propagate.extract(candidate, context=Context())):
            trace_source = candidate
            break
    baggage_source = next((carrier for carrier in (meta_carrier, header_carrier) if carrier.get("baggage")), None)
    if trace_source is None and baggage_source is None:
        return None

    merged: dict[str, str] = {}
    if trace_source is not None:
        merged.update(trace_source)
    if baggage_source is not None:
        merged["baggage"] = baggage_source["baggage"]
    try:
        return propagate.extract(merged, context=Context())
    except (ValueError, TypeError):
        return None


def _string_carrier(source: Mapping[str, Any] | None, *, lower: bool = False) -> dict[str, str]:
    if not source:
        return {}
    carrier: dict[str, str] = {}
    for key, value in source.items():
        if isinstance(key, str) and isinstance(value, str):
            carrier[key.lower() if lower else key] = value
    return carrier


def _only(carrier: Mapping[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    return {key: carrier[key] for key in keys if key in carrier}


def _has_valid_span(ctx: Context) -> bool:
    return trace.get_current_span(ctx).get_span_context().is_valid
