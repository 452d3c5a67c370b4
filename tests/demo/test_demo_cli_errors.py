"""User errors of ``mesh-agents demo`` end as one ``error: ...`` line and exit code 2, never a traceback."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mesh_agents.cli import demo as demo_module
from mesh_agents.cli.main import app


def _invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["demo", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def _assert_one_error_line(output: str, *fragments: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert "Traceback" not in output
    for fragment in fragments:
        assert fragment in errors[0], output


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ('{"id": "r1", "tenant": "acme", "text": "hi"}\n{"id": \n', ("line 2", "invalid JSON")),
        ("", ("has no requests", "one JSON object")),
        ("\n  \n", ("has no requests",)),
        ('[{"id": "r1", "tenant": "acme", "text": "hi"}]\n', ("line 1", "got an array", "JSON Lines")),
        ('{"id": "r1", "tenant": "acme"}\n', ("line 1", "missing field(s) text")),
        ('{"id": "r1", "tenant": "a b", "text": "hi"}\n', ("line 1", "invalid tenant id 'a b'")),
        ('{"id": "r1", "tenant": "acme", "text": 5}\n', ("line 1", "text must be strings")),
        (b'{"id": "r1", "tenant": "acme", "text": "caf\xe9"}\n', ("not UTF-8", "save it as UTF-8")),
    ],
    ids=["malformed", "empty", "blank", "array", "missing", "bad-tenant-id", "not-a-string", "latin-1"],
)
def test_demo_rejects_bad_requests_file(tmp_path: Path, content: str | bytes, fragments: tuple[str, ...]) -> None:
    code, output = _invoke("--requests", str(_write(tmp_path, "requests.jsonl", content)))
    assert code == 2, output
    _assert_one_error_line(output, *fragments)


def test_demo_never_prints_request_text(tmp_path: Path) -> None:
    secret = "Noah Ortega noah.ortega@example.com"
    path = _write(tmp_path, "requests.jsonl", json.dumps({"id": "r1", "tenant": "a b", "text": secret}) + "\n{")
    code, output = _invoke("--requests", str(path))
    assert code == 2
    assert secret not in output


def test_demo_rejects_missing_file(tmp_path: Path) -> None:
    code, output = _invoke("--requests", str(tmp_path / "nope.jsonl"))
    assert code == 2
    _assert_one_error_line(output, "not found", "--requests")


def test_demo_rejects_unknown_tenant_before_running(tmp_path: Path) -> None:
    lines = [{"id": "r1", "tenant": "acme", "text": "hi"}, {"id": "r2", "tenant": "umbrella", "text": "hi"}]
    path = _write(tmp_path, "requests.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    code, output = _invoke("--requests", str(path))
    assert code == 2, output
    _assert_one_error_line(output, "request 'r2'", "unknown tenant 'umbrella'", "acme")


def test_demo_rejects_unknown_provider() -> None:
    code, output = _invoke("--model", "bogusprov:xyz")
    assert code == 2, output
    _assert_one_error_line(output, "bogusprov:xyz")


def test_demo_rejects_missing_config(tmp_path: Path) -> None:
    code, output = _invoke("--config", str(tmp_path / "missing.yaml"))
    assert code == 2, output
    _assert_one_error_line(output, "missing.yaml")


def test_demo_hides_unexpected_error_messages(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("text of a request: noah.ortega@example.com")

    monkeypatch.setattr(demo_module, "build_demo_mesh", explode)
    with caplog.at_level(logging.ERROR, logger="mesh_agents.cli.demo"):
        code, output = _invoke()
    assert code == 1
    _assert_one_error_line(output, "failed unexpectedly (RuntimeError)")
    assert "noah.ortega" not in output
    assert any(record.exc_info for record in caplog.records)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow  # builds the mesh, which loads the embedding model
def test_demo_reports_stopped_redis() -> None:
    code, output = _invoke(env={"MESH_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}"})
    assert code == 2, output
    _assert_one_error_line(output, "Redis", "running")
