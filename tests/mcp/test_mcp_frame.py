"""The server frame over real transports: listing, results, error mapping, staying up."""

from __future__ import annotations

import sys
from typing import Any

import httpx
import pytest
from conftest import FRAME_SERVER, ROOT, child_env

from mcp_servers.client import connect_http, connect_stdio, structured
from mesh_agents.testing.mcp_process import MCPServerProcess
from mesh_agents.testing.otlp_receiver import OTLPReceiver

pytestmark = pytest.mark.anyio

PII = "jane.doe@example.com"


def _text(result: Any) -> str:
    return " ".join(block.text for block in result.content)


async def test_http_lists_typed_tools(frame_http: MCPServerProcess) -> None:
    async with connect_http(frame_http.url) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert sorted(tools) == ["count_words", "crash", "spend"]
    count_words = tools["count_words"]
    assert count_words.input_schema["required"] == ["text", "tenant"]
    assert count_words.input_schema["properties"]["tenant"]["description"].startswith("Tenant")
    assert count_words.output_schema is not None
    assert set(count_words.output_schema["properties"]) == {"words", "tenant"}
    assert count_words.annotations is not None
    assert count_words.annotations.read_only_hint is True


async def test_http_call_returns_structured_content(frame_http: MCPServerProcess) -> None:
    async with connect_http(frame_http.url) as session:
        result = await session.call_tool("count_words", {"text": "one two three", "tenant": "acme"})
    assert result.is_error is False
    assert structured(result) == {"words": 3, "tenant": "acme"}


async def test_stdio_session_lists_and_calls(otlp: tuple[OTLPReceiver, Any]) -> None:
    env = child_env(otlp[0], "frame-server-stdio")
    async with connect_stdio(sys.executable, [FRAME_SERVER, "stdio"], env=env, cwd=str(ROOT)) as session:
        names = sorted(tool.name for tool in (await session.list_tools()).tools)
        ok = await session.call_tool("count_words", {"text": "a b", "tenant": "globex"})
        unknown = await session.call_tool("count_words", {"text": "a b", "tenant": "initech"})
    assert names == ["count_words", "crash", "spend"]
    assert structured(ok) == {"words": 2, "tenant": "globex"}
    assert unknown.is_error is True
    assert "unknown tenant 'initech'" in _text(unknown)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"text": "a b", "tenant": "initech"}, "invalid_input: unknown tenant 'initech'"),
        ({"text": "x" * 1001, "tenant": "acme"}, "text has 1001 characters, more than max_input_chars=1000"),
        ({"text": 42, "tenant": "acme"}, "text\n  Input should be a valid string"),
        ({"tenant": "acme"}, "text\n  Field required"),
        ({"text": "a", "tenant": "not a tenant"}, "invalid tenant id 'not a tenant'"),
    ],
)
async def test_bad_arguments_name_the_field(
    frame_http: MCPServerProcess, arguments: dict[str, Any], expected: str
) -> None:
    async with connect_http(frame_http.url) as session:
        result = await session.call_tool("count_words", arguments)
    assert result.is_error is True
    assert expected in _text(result)


async def test_rejected_value_is_not_echoed(frame_http: MCPServerProcess) -> None:
    async with connect_http(frame_http.url) as session:
        result = await session.call_tool("count_words", {"text": [PII], "tenant": "acme"})
    assert result.is_error is True
    assert PII not in _text(result)
    assert "input_value" not in _text(result)


async def test_mesh_error_keeps_code_and_message(frame_http: MCPServerProcess) -> None:
    async with connect_http(frame_http.url) as session:
        result = await session.call_tool("spend", {"tenant": "acme", "tokens": 5})
    assert result.is_error is True
    assert "budget_exceeded: tenant 'acme' has no tokens left" in _text(result)


async def test_crash_returns_generic_message(frame_http: MCPServerProcess) -> None:
    async with connect_http(frame_http.url) as session:
        result = await session.call_tool("crash", {"text": PII})
        again = await session.call_tool("count_words", {"text": "still up", "tenant": "acme"})
    message = _text(result)
    assert result.is_error is True
    assert "internal_error: the crash tool failed (error id " in message
    assert PII not in message
    error_id = message.split("error id ")[1][:12]
    logged = [line for line in frame_http.log_lines() if error_id in line]
    assert any("RuntimeError" in line for line in logged)
    assert all(PII not in line for line in frame_http.log_lines())
    assert structured(again) == {"words": 2, "tenant": "acme"}


async def test_unknown_tool_is_a_tool_error(frame_http: MCPServerProcess) -> None:
    async with connect_http(frame_http.url) as session:
        result = await session.call_tool("no_such_tool", {})
    assert result.is_error is True
    assert "Unknown tool: no_such_tool" in _text(result)


async def test_invalid_json_body_gets_parse_error(frame_http: MCPServerProcess) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=10) as client:
        broken = await client.post(frame_http.url, content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=headers)
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "count_words", "arguments": {"text": "up", "tenant": "acme"}},
        }
        after = await client.post(frame_http.url, json=call, headers=headers)
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == -32700
    assert after.status_code == 200
    assert after.json()["result"]["structuredContent"] == {"words": 1, "tenant": "acme"}


def test_tracing_middlewares_wrap_sdk_span() -> None:
    from mcp_servers.server import build_server
    from mcp_servers.telemetry import SpanAttributesMiddleware, TraceContextMiddleware, install_tracing
    from mesh_agents.settings import MeshSettings

    server = build_server(MeshSettings(), tools=[])
    install_tracing(server)
    names = [type(item).__name__ for item in server.middleware]
    assert names[:3] == ["TraceContextMiddleware", "OpenTelemetryMiddleware", "SpanAttributesMiddleware"]
    assert sum(isinstance(item, TraceContextMiddleware) for item in server.middleware) == 1
    assert sum(isinstance(item, SpanAttributesMiddleware) for item in server.middleware) == 1
