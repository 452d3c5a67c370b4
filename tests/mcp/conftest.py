"""Fixtures for MCP tests: the shared OTLP receiver and MCP servers in child processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from mcp_support import FRAME_SERVER, MESH_SERVER, child_env

from mesh_agents.testing.mcp_process import MCPServerProcess
from mesh_agents.testing.otlp_receiver import OTLPReceiver, shared_receiver


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


@pytest.fixture(scope="session")
def mesh_http(otlp: tuple[OTLPReceiver, Any]) -> Iterator[MCPServerProcess]:
    """The mesh server with the real capabilities over stateless streamable HTTP."""
    command = [sys.executable, MESH_SERVER, "http", "0"]
    with MCPServerProcess(command, env=child_env(otlp[0], "mesh-server")) as server:
        yield server
