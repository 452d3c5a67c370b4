"""W3C trace context and baggage: injection, extraction from _meta or headers, mesh ids."""

from __future__ import annotations

import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from mesh_agents.tracing import baggage_ids, extract_context, inject, use_baggage, with_baggage

TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"


def _traceparent(trace_id: str, span_id: str = "b7ad6b7169203331") -> str:
    return f"00-{trace_id}-{span_id}-01"


def _trace_id(ctx: Context | None) -> str:
    assert ctx is not None
    return format(trace.get_current_span(ctx).get_span_context().trace_id, "032x")


def _remote_parent(trace_id: str) -> Context:
    span_context = SpanContext(int(trace_id, 16), 0xB7AD6B7169203331, is_remote=True, trace_flags=TraceFlags(1))
    return trace.set_span_in_context(NonRecordingSpan(span_context))


def test_inject_writes_traceparent_and_baggage() -> None:
    ctx = with_baggage(tenant="acme", user="u-1", session="s-1", parent=_remote_parent(TRACE_A))
    carrier = inject({}, ctx)
    assert carrier["traceparent"].split("-")[1] == TRACE_A
    assert "mesh.tenant=acme" in carrier["baggage"]
    assert "mesh.user=u-1" in carrier["baggage"]
    assert "mesh.session=s-1" in carrier["baggage"]


def test_extract_prefers_meta_over_headers() -> None:
    ctx = extract_context({"traceparent": _traceparent(TRACE_A)}, {"traceparent": _traceparent(TRACE_B)})
    assert _trace_id(ctx) == TRACE_A


def test_extract_falls_back_to_headers() -> None:
    ctx = extract_context({"progressToken": 3}, {"Traceparent": _traceparent(TRACE_B), "Baggage": "mesh.tenant=acme"})
    assert _trace_id(ctx) == TRACE_B
    assert baggage_ids(ctx) == {"tenant": "acme"}


def test_extract_skips_malformed_meta_traceparent() -> None:
    ctx = extract_context({"traceparent": "00-not-a-trace-01"}, {"traceparent": _traceparent(TRACE_B)})
    assert _trace_id(ctx) == TRACE_B


def test_extract_takes_header_baggage_with_meta_trace() -> None:
    ctx = extract_context({"traceparent": _traceparent(TRACE_A)}, {"baggage": "mesh.tenant=acme,mesh.user=u-9"})
    assert _trace_id(ctx) == TRACE_A
    assert baggage_ids(ctx) == {"tenant": "acme", "user": "u-9"}


def test_extract_returns_none_without_carriers() -> None:
    assert extract_context(None, None) is None
    assert extract_context({}, {"content-type": "application/json"}) is None


def test_extract_ignores_current_context() -> None:
    token = context.attach(_remote_parent(TRACE_A))
    try:
        with use_baggage(tenant="outer"):
            assert extract_context({"traceparent": "garbage"}, None) is None
            ctx = extract_context(None, {"baggage": "mesh.user=u-3"})
            assert baggage_ids(ctx) == {"user": "u-3"}
            assert not trace.get_current_span(ctx).get_span_context().is_valid
    finally:
        context.detach(token)


def test_baggage_ids_drop_invalid_values() -> None:
    ctx = baggage.set_baggage("mesh.tenant", "bad tenant with spaces", context=Context())
    ctx = baggage.set_baggage("mesh.session", "s-2", context=ctx)
    assert baggage_ids(ctx) == {"session": "s-2"}


def test_with_baggage_rejects_invalid_id() -> None:
    with pytest.raises(ValueError, match="invalid tenant id"):
        with_baggage(tenant="no spaces allowed")


def test_use_baggage_restores_previous_context() -> None:
    assert baggage_ids() == {}
    with use_baggage(tenant="acme", session="s-1"):
        assert baggage_ids() == {"tenant": "acme", "session": "s-1"}
        with use_baggage(user="u-2"):
            assert baggage_ids() == {"tenant": "acme", "user": "u-2", "session": "s-1"}
    assert baggage_ids() == {}
