"""``mesh-agents usage report`` at 80 columns, with a bad --png path and a bad --tenant."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mesh_agents.cli.main import app
from mesh_agents.settings import MeshSettings
from mesh_agents.usage import TokenUsage, UsageRecord, UsageSettings, UsageTracker


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A JSONL ledger with big numbers and a long tenant id, named by MESH_USAGE__LEDGER_PATH."""
    path = tmp_path / "ledger.jsonl"
    tracker = UsageTracker(MeshSettings(usage=UsageSettings(ledger_path=path)))
    for tenant, tokens, cost in (
        ("acme", (12_345_678, 2_345_678), 1234.567891),
        ("globex-enterprise-customer-eu-west", (987_654, 123_456), 98.765432),
    ):
        record = UsageRecord(
            timestamp=time.time(),
            tenant=tenant,
            target="large",
            model_name="gpt-4o",
            usage=TokenUsage(*tokens),
            cost_usd=cost,
        )
        tracker.ledger.append(record)
    monkeypatch.setenv("MESH_USAGE__LEDGER_PATH", str(path))
    return path


def _report(*args: str, columns: int = 80) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["usage", "report", *args], env={"COLUMNS": str(columns)})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def test_report_fits_80_columns_without_cutting_numbers(ledger: Path) -> None:
    code, output = _report()
    assert code == 0, output
    assert max(len(line) for line in output.splitlines()) <= 80, output
    assert "…" not in output
    for number in ("12,345,678", "2,345,678", "987,654", "123,456", "1234.567891", "98.765432", "13,333,332"):
        assert number in output, (number, output)
    for header in ("calls", "cache", "hits", "blocked", "input", "output", "tokens", "cost", "USD"):
        assert header in output
    assert "served from cache" not in output


def test_report_wide_prints_every_column(ledger: Path) -> None:
    code, output = _report("--wide", columns=240)
    assert code == 0, output
    for header in ("served from", "cache tokens", "reasoning", "saved", "unpriced", "estimated"):
        assert header in output


def test_report_wide_on_a_narrow_terminal_keeps_numbers_whole(ledger: Path) -> None:
    code, output = _report("--wide", columns=80)
    assert code == 0, output
    # Wider than the terminal rather than cut: every number is whole.
    assert "…" not in output
    for number in ("12,345,678", "2,345,678", "1234.567891", "13,333,332"):
        assert number in output, (number, output)


def test_report_columns_option(ledger: Path) -> None:
    code, output = _report("--columns", "input_tokens,saved_usd")
    assert code == 0, output
    assert "input" in output and "saved" in output
    assert "output" not in output
    code, output = _report("--columns", "input_tokens,colour")
    assert code == 2
    assert "error: --columns: unknown column(s) 'colour'" in output


def test_report_png_into_missing_folder_is_an_error(ledger: Path, tmp_path: Path) -> None:
    code, output = _report("--png", str(tmp_path / "nonexistent" / "x.png"))
    assert code == 2, output
    assert output.startswith("error: --png: folder")
    assert "does not exist" in output
    assert "Traceback" not in output


def test_report_png_onto_a_folder_is_an_error(ledger: Path, tmp_path: Path) -> None:
    code, output = _report("--png", str(tmp_path))
    assert code == 2, output
    assert "is a folder" in output


@pytest.mark.parametrize("tenant", ["a b", "", "-acme", "x" * 200])
def test_report_rejects_invalid_tenant(ledger: Path, tenant: str) -> None:
    code, output = _report("--tenant", tenant)
    assert code == 2, output
    assert output.startswith("error: --tenant: invalid tenant id")
    assert "no usage recorded" not in output


def test_report_valid_unknown_tenant_has_no_rows(ledger: Path) -> None:
    code, output = _report("--tenant", "initech")
    assert code == 0, output
    assert "no usage recorded" in output
