"""Usage reports: grouping, durations, the PNG chart and the ``usage report`` command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage
from typer.testing import CliRunner
from usage_helpers import make_request, make_target

from mesh_agents.cli.main import app
from mesh_agents.errors import BudgetExceeded, InvalidInputError
from mesh_agents.settings import MeshSettings
from mesh_agents.usage import TokenUsage, UsageRecord, UsageSettings, UsageTracker
from mesh_agents.usage.report import aggregate, parse_duration, render_png


def _record(tenant: str, model: str, tokens: tuple[int, int], cost: float | None, **fields: object) -> UsageRecord:
    return UsageRecord(
        timestamp=fields.pop("timestamp", time.time()),  # type: ignore[arg-type]
        tenant=tenant,
        target=model,
        model_name=model,
        usage=TokenUsage(*tokens),
        cost_usd=cost,
        **fields,  # type: ignore[arg-type]
    )


def _populate(tracker: UsageTracker) -> None:
    """Two tenants, two models, a cache hit, a failed attempt and a blocked call."""
    cheap, private = make_target(), make_target("private", model_name="acme-private-llm", provider="unknown")
    for tenant, target, calls in (("acme", cheap, 3), ("globex", cheap, 1), ("globex", private, 2)):
        for _ in range(calls):
            request = make_request(tenant=tenant, user=f"{tenant}-user", agent="support")
            usage = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
            answer = AIMessage(content="ok", usage_metadata=usage)
            tracker.settle(tracker.reserve(request, target), request, target, answer)


def test_aggregate_groups_and_orders_by_cost():
    records = [
        _record("acme", "gpt-4o", (100, 10), 0.002),
        _record("acme", "gpt-4o-mini", (100, 10), 0.0001),
        _record("globex", "gpt-4o", (50, 5), 0.001),
        _record("globex", "private", (70, 7), None),
        _record("globex", "gpt-4o", (80, 8), 0.0, cached=True, outcome="cached", saved_usd=0.0015),
        _record("globex", "gpt-4o", (0, 0), None, outcome="blocked", budget="daily"),
        _record("acme", "gpt-4o", (30, 0), 0.0003, outcome="failed"),
    ]
    by_tenant = aggregate(records, "tenant")
    assert [row["tenant"] for row in by_tenant] == ["acme", "globex"]
    acme, globex = by_tenant
    assert acme["calls"] == 2
    assert acme["failed"] == 1
    assert acme["input_tokens"] == 230
    assert acme["cost_usd"] == pytest.approx(0.0024)
    assert globex["calls"] == 2
    assert globex["unpriced"] == 1
    assert globex["cache_hits"] == 1
    assert globex["cached_tokens"] == 88
    assert globex["saved_usd"] == pytest.approx(0.0015)
    assert globex["blocked"] == 1
    assert globex["input_tokens"] == 120
    by_model = {row["model"]: row for row in aggregate(records, "model")}
    assert set(by_model) == {"gpt-4o", "gpt-4o-mini", "private"}
    assert aggregate(records, "user")[0]["user"] == "(none)"


def test_aggregate_rejects_unknown_grouping():
    with pytest.raises(InvalidInputError, match="tenant, user, agent, model"):
        aggregate([], "colour")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("12h", 43200), ("7d", 604800), ("2w", 1209600)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "d", "-1d", "0h", "1y", "seven days"])
def test_parse_duration_rejects(text):
    with pytest.raises(InvalidInputError, match="invalid duration"):
        parse_duration(text)


def test_report_since_filters_old_records(tmp_path):
    tracker = UsageTracker(MeshSettings(usage=UsageSettings(ledger_path=tmp_path / "ledger.jsonl")))
    tracker.ledger.append(_record("acme", "gpt-4o", (10, 1), 0.1, timestamp=time.time() - 3 * 86400))
    tracker.ledger.append(_record("acme", "gpt-4o", (20, 2), 0.2))
    [recent] = tracker.report(by="tenant", since_s=86400)
    assert recent["input_tokens"] == 20
    [everything] = tracker.report(by="tenant")
    assert everything["input_tokens"] == 30
    with pytest.raises(InvalidInputError):
        tracker.report(by="tenant", since_s=0)


def test_report_filters_by_tenant(tracker_factory):
    tracker = tracker_factory()
    _populate(tracker)
    rows = tracker.report(by="model", tenant="globex")
    assert {row["model"] for row in rows} == {"gpt-4o-mini", "acme-private-llm"}
    assert sum(row["calls"] for row in rows) == 3


def test_png_chart_is_written(tmp_path):
    rows = aggregate([_record("acme", "gpt-4o", (100, 10), 0.002), _record("b", "x", (5, 5), None)], "tenant")
    path = render_png(rows, "tenant", tmp_path / "usage.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5000


def test_cli_report_reads_the_shared_ledger(tmp_path, monkeypatch, tracker_factory, backend, request):
    if backend == "redis":
        monkeypatch.setenv("MESH_REDIS_URL", request.getfixturevalue("redis_url"))
        tracker = tracker_factory()
    else:
        ledger = tmp_path / "ledger.jsonl"
        monkeypatch.setenv("MESH_USAGE__LEDGER_PATH", str(ledger))
        tracker = UsageTracker(MeshSettings(usage=UsageSettings(ledger_path=ledger)))
    _populate(tracker)
    budgets = UsageSettings.model_validate({"budgets": [{"name": "tiny", "max_requests": 0}]}).budgets
    tracker.settings.usage.budgets = budgets
    tracker._tenant_settings.clear()
    with pytest.raises(BudgetExceeded):
        tracker.reserve(make_request(tenant="acme"), make_target())

    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    chart = tmp_path / "by-tenant.png"
    result = runner.invoke(app, ["usage", "report", "--by", "tenant", "--since", "7d", "--png", str(chart)])
    assert result.exit_code == 0, result.output
    assert "acme" in result.output
    assert "globex" in result.output
    assert chart.read_bytes().startswith(b"\x89PNG")

    result = runner.invoke(app, ["usage", "report", "--by", "model", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads(result.output)}
    assert rows["gpt-4o-mini"]["calls"] == 4
    assert rows["gpt-4o-mini"]["blocked"] == 1
    assert rows["acme-private-llm"]["unpriced"] == 2


def test_cli_report_explains_memory_ledger():
    result = CliRunner().invoke(app, ["usage", "report"])
    assert result.exit_code == 2
    assert "MESH_REDIS_URL" in result.output


def test_cli_report_rejects_bad_grouping(tmp_path, monkeypatch):
    monkeypatch.setenv("MESH_USAGE__LEDGER_PATH", str(tmp_path / "ledger.jsonl"))
    result = CliRunner().invoke(app, ["usage", "report", "--by", "colour"])
    assert result.exit_code == 2
    assert "invalid report grouping 'colour'" in result.output


def test_jsonl_ledger_round_trips_records(tmp_path: Path):
    tracker = UsageTracker(MeshSettings(usage=UsageSettings(ledger_path=tmp_path / "nested" / "ledger.jsonl")))
    record = _record("acme", "gpt-4o", (10, 1), None, user="u1", trace_id="ab" * 16, outcome="failed")
    tracker.ledger.append(record)
    assert tracker.ledger.query() == [record]
    assert tracker.ledger.query(tenant="globex") == []
