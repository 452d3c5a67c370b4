"""``mesh-agents serve``: the mesh's MCP server over stdio or streamable HTTP."""

from __future__ import annotations

import enum
import logging
import sys
from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from mesh_agents.cli._apps import app

__all__ = ["LogLevel", "Transport", "serve"]



class Transport(enum.StrEnum):
    STDIO = "stdio"
    HTTP = "http"


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@app.command()
def serve(
    transport: Annotated[
        Transport, typer.Option(help="stdio for a client that starts the server, http for streamable HTTP.")
    ] = Transport.STDIO,
    host: Annotated[str, typer.Option(help="Address to listen on (http only).")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one (http only).")
    ] = 8000,
    path: Annotated[str, typer.Option(help="URL path of the MCP endpoint (http only).")] = "/mcp",
    stateful: Annotated[
        bool,
        typer.Option(help="Keep MCP sessions in this process; the default is stateless, so replicas can share a load."),
    ] = False,
    otlp_endpoint: Annotated[
        str | None,
        typer.Option(
            help="Export traces and metrics to this OTLP endpoint, such as http://localhost:4318; "
            "defaults to OTEL_EXPORTER_OTLP_ENDPOINT, and nothing is exported when neither is set."
        ),
    ] = None,
    otlp_protocol: Annotated[
        str | None, typer.Option(help="http/protobuf (default) or grpc; defaults to OTEL_EXPORTER_OTLP_PROTOCOL.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="mesh.yaml to load; defaults to MESH_CONFIG, then ./mesh.yaml.")
    ] = None,
    log_level: Annotated[LogLevel, typer.Option(help="Level of the log lines written to stderr.")] = LogLevel.INFO,
) -> None:
    """Serve the mesh capabilities (redact, restore, guardrails, cache, route, tokens, usage) as MCP tools."""
    from mcp_servers.server import build_server, run_http, run_stdio
    from mesh_agents.errors import MeshError
    from mesh_agents.mesh import Mesh
    from mesh_agents.settings import load_settings
    from mesh_agents.tracing import setup

    # stdout carries the protocol on stdio, so every log line goes to stderr.
    logging.basicConfig(
        level=log_level.value.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        telemetry = setup("mesh-agents-mcp", endpoint=otlp_endpoint, protocol=otlp_protocol)
        mesh = Mesh(load_settings(config))
    except MeshError as exc:
        typer.echo(f"error: {exc.safe_message}", err=True)
        raise typer.Exit(2) from exc

    server = build_server(mesh)
    flush = telemetry.shutdown if telemetry is not None else None
    if transport is Transport.STDIO:
        try:
            run_stdio(server)
        finally:
            if flush is not None:
                flush()
        return
    level = cast(Literal["debug", "info", "warning", "error"], log_level.value)
    run_http(server, host=host, port=port, path=path, stateless=not stateful, log_level=level, on_shutdown=flush)
