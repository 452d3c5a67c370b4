"""``mesh-agents serve`` over HTTP and stdio, with its OTLP export and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, child_env

from mcp_servers.client import connect_http, connect_stdio, structured
from mesh_agents.testing.mcp_process import MCPServerProcess
from mesh_agents.testing.otlp_receiver import OTLPReceiver, ReceivedSpan
from mesh_agents.tracing import current_trace_id, get_tracer

pytestmark = pytest.mark.anyio

CONFIG = """
max_input_chars: 2000
tenants:
  acme: {}
"""
ALL_TOOLS = {
    "redact",
    "restore",
    "check_guardrails",
    "cache_lookup",
    "cache_store",
    "cache_invalidate",
    "route",
    "count_tokens",
    "usage_report",
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mesh.yaml"
    path.write_text(CONFIG)
    return path


def _env(receiver: OTLPReceiver) -> dict[str, str]:
    env = child_env(receiver, "unused")
    del env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    del env["OTEL_SERVICE_NAME"]
    return env


async def test_serve_http_exports_to_otlp_endpoint(otlp: tuple[OTLPReceiver, Any], config: Path) -> None:
    receiver, telemetry = otlp
    command = [
        sys.executable, "-m", "mesh_agents", "serve", "--transport", "http", "--port", "0",
        "--otlp-endpoint", receiver.endpoint, "--config", str(config),
    ]  # fmt: skip
    with MCPServerProcess(command, env=_env(receiver), cwd=str(ROOT)) as server:
        with get_tracer().start_as_current_span("serve-check"):
            trace_id = current_trace_id()
            async with connect_http(server.url) as session:
                names = {tool.name for tool in (await session.list_tools()).tools}
                masked = structured(await session.call_tool("redact", {"text": "mail a@b.example", "tenant": "acme"}))
                unknown = await session.call_tool("redact", {"text": "hi", "tenant": "globex"})
        telemetry.force_flush()

        def served(spans: list[ReceivedSpan]) -> bool:
            return any(s.trace_id == trace_id and s.service_name == "mesh-agents-mcp" for s in spans)

        spans = receiver.wait_for_spans(served, timeout_s=30)
    assert names == ALL_TOOLS
    assert masked["text"] == "mail <EMAIL_1>"
    assert unknown.is_error is True
    assert "unknown tenant 'globex'" in " ".join(getattr(block, "text", "") for block in unknown.content)
    in_trace = [span for span in spans if span.trace_id == trace_id]
    assert any(span.name == "tools/call redact" and span.kind == "SERVER" for span in in_trace)
    assert server.url.endswith("/mcp")
    assert any("MCP server mesh-agents stopped" in line for line in server.log_lines())


async def test_serve_stdio_answers(otlp: tuple[OTLPReceiver, Any], config: Path) -> None:
    args = ["-m", "mesh_agents", "serve", "--config", str(config)]
    async with connect_stdio(sys.executable, args, env=_env(otlp[0]), cwd=str(ROOT)) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        counted = structured(await session.call_tool("count_tokens", {"text": "Hello there", "tenant": "acme"}))
    assert names == ALL_TOOLS
    assert counted["tokens"] == 2


def test_serve_reports_missing_config(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "mesh_agents", "serve", "--config", str(missing)],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert f"settings file {str(missing)!r} not found" in result.stderr


def test_serve_rejects_unknown_transport() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mesh_agents", "serve", "--transport", "carrier-pigeon"],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "carrier-pigeon" in result.stderr
