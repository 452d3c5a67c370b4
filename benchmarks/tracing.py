"""Measure what tracing adds: span overhead per request, and MCP tool round trips with tracing off and on.

1. Spans: one request's worth of spans (a ``mesh.request`` root, eight step spans and a
   ``chat`` CLIENT span with the pipeline's attributes), opened ``--iterations`` times
   with no SDK (the API's no-op spans) and with ``setup()`` exporting by OTLP/HTTP to a
   local receiver (baggage, MCP-name and metrics processors plus the batch exporter).
2. MCP: ``--calls`` sequential ``count_tokens`` calls through a real client session over
   stdio and streamable HTTP to ``tests/mcp/mesh_server.py``, first without an OTLP
   endpoint, then with client and server exporting to the receiver.

Run: PYTHONPATH=. python benchmarks/tracing.py [--iterations 5000] [--calls 300]
Each measurement runs in a fresh child process, because OpenTelemetry installs one
global provider per process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MESH_SERVER = ROOT / "tests" / "mcp" / "mesh_server.py"
STEPS = ("apply_guardrail input", "mesh.redact", "mesh.cache.lookup", "mesh.route", "mesh.usage")
STEPS_AFTER = ("apply_guardrail output", "mesh.restore", "mesh.cache.store")


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "mean": statistics.fmean(ordered),
    }


def measure_spans(iterations: int) -> dict[str, float]:
    """Open one request's spans ``iterations`` times; return microseconds per request."""
    from opentelemetry.trace import SpanKind

    from mesh_agents.tracing import GenAI, step_span, use_baggage
    from mesh_agents.tracing import Mesh as MeshAttr

    chat_attributes = {
        GenAI.OPERATION_NAME: "chat",
        GenAI.PROVIDER_NAME: "openai",
        GenAI.REQUEST_MODEL: "gpt-4o-mini",
        MeshAttr.ROUTE_TARGET: "small",
        MeshAttr.ATTEMPT: 1,
    }
    samples: list[float] = []
    with use_baggage(tenant="acme", user="u-1", session="s-1"):
        for _ in range(iterations):
            started = time.perf_counter()
            with step_span("mesh.request", attributes={MeshAttr.TENANT: "acme", MeshAttr.SESSION: "s-1"}):
                for name in STEPS:
                    with step_span(name, attributes={MeshAttr.STEP: name}) as span:
                        span.set_attribute(MeshAttr.CACHE_HIT, False)
                with step_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=chat_attributes) as span:
                    span.set_attribute(GenAI.USAGE_INPUT_TOKENS, 120)
                    span.set_attribute(GenAI.USAGE_OUTPUT_TOKENS, 40)
                for name in STEPS_AFTER:
                    with step_span(name, attributes={MeshAttr.STEP: name}):
                        pass
            samples.append((time.perf_counter() - started) * 1e6)
    return _percentiles(samples)


async def measure_mcp(transport: str, calls: int) -> dict[str, float]:
    """Time ``calls`` sequential count_tokens calls; return milliseconds per call."""
    from mcp_servers.client import connect_http, connect_stdio
    from mesh_agents.testing.mcp_process import MCPServerProcess

    env = {key: value for key, value in os.environ.items()}
    env["PYTHONPATH"] = str(ROOT)
    arguments = {"text": "How many tokens does this sentence use?", "tenant": "acme"}
    samples: list[float] = []

    async def run(session: Any) -> None:
        await session.call_tool("count_tokens", arguments)
        for _ in range(calls):
            started = time.perf_counter()
            result = await session.call_tool("count_tokens", arguments)
            samples.append((time.perf_counter() - started) * 1e3)
            assert not result.is_error

    if transport == "stdio":
        async with connect_stdio(sys.executable, [str(MESH_SERVER), "stdio"], env=env) as session:
            await run(session)
    else:
        with MCPServerProcess([sys.executable, str(MESH_SERVER), "http", "0"], env=env) as server:
            async with connect_http(server.url) as session:
                await run(session)
    return _percentiles(samples)


def _child(argv: list[str]) -> None:
    """Run one measurement in this process and print it as JSON."""
    mode, kind = argv[0], argv[1]
    if mode == "otlp":
        from mesh_agents.tracing import setup

        telemetry = setup("benchmark")
        assert telemetry is not None
    if kind == "spans":
        result = measure_spans(int(argv[2]))
    else:
        import anyio

        result = anyio.run(measure_mcp, kind, int(argv[2]))
    print(json.dumps(result))


def _run_child(mode: str, kind: str, count: int, endpoint: str) -> dict[str, float]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT)
    if mode == "otlp":
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_METRIC_EXPORT_INTERVAL": "1000"})
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, kind, str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child {mode} {kind} failed:\n{result.stderr[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000, help="Requests' worth of spans per mode.")
    parser.add_argument("--calls", type=int, default=300, help="MCP tool calls per transport and mode.")
    args = parser.parse_args()

    from mesh_agents.testing import OTLPReceiver

    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    with OTLPReceiver() as receiver:
        rows = []
        for mode in ("noop", "otlp"):
            spans = _run_child(mode, "spans", args.iterations, receiver.endpoint)
            rows.append(("spans per request", mode, "us", spans))
        for transport in ("stdio", "http"):
            for mode in ("noop", "otlp"):
                calls = _run_child(mode, transport, args.calls, receiver.endpoint)
                rows.append((f"MCP count_tokens over {transport}", mode, "ms", calls))
        received = len(receiver.spans())
    print("| measurement | tracing | p50 | p99 | mean |")
    print("|---|---|---|---|---|")
    for name, mode, unit, values in rows:
        label = "off (no SDK)" if mode == "noop" else "on (OTLP/HTTP)"
        cells = " | ".join(f"{values[key]:.1f} {unit}" for key in ("p50", "p99", "mean"))
        print(f"| {name} | {label} | {cells} |")
    print(f"spans received by the OTLP receiver: {received}")


if __name__ == "__main__":
    main()
