"""Fixtures for MCP tests: the shared OTLP receiver and MCP servers in child processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh_agents.testing.mcp_process import MCPServerProcess
from mesh_agents.testing.otlp_receiver import OTLPReceiver, shared_receiver

ROOT = Path(__file__).resolve().parents[2]
FRAME_SERVER = str(Path(__file__).with_name("frame_server.py"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def otlp() -> tuple[OTLPReceiver, Any]:
    """The process-wide OTLP receiver and the Telemetry of this test process that exports to it.

    When another test already installed an SDK tracer provider, ``setup()`` adds the
    exporter to it, so this process's spans may carry that provider's service name.
    """
    return shared_receiver("mcp-test-client")


def child_env(receiver: OTLPReceiver, service_name: str) -> dict[str, str]:
    """Environment of a server child: export to the receiver quickly, import this checkout."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


@pytest.fixture(scope="session")
def frame_http(otlp: tuple[OTLPReceiver, Any]) -> Iterator[MCPServerProcess]:
    """The frame test server over stateless streamable HTTP."""
    with MCPServerProcess(
        [sys.executable, FRAME_SERVER, "http", "0"], env=child_env(otlp[0], "frame-server")
    ) as server:
        yield server


@pytest.fixture(scope="session")
def frame_http_stateful(otlp: tuple[OTLPReceiver, Any]) -> Iterator[MCPServerProcess]:
    """The frame test server over streamable HTTP with MCP sessions."""
    command = [sys.executable, FRAME_SERVER, "http", "0", "--stateful"]
    with MCPServerProcess(command, env=child_env(otlp[0], "frame-server-stateful")) as server:
        yield server


MESH_SERVER = str(Path(__file__).with_name("mesh_server.py"))


@pytest.fixture(scope="session")
def mesh_http(otlp: tuple[OTLPReceiver, Any]) -> Iterator[MCPServerProcess]:
    """The mesh server with the real capabilities over stateless streamable HTTP."""
    command = [sys.executable, MESH_SERVER, "http", "0"]
    with MCPServerProcess(command, env=child_env(otlp[0], "mesh-server")) as server:
        yield server
