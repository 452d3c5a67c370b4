"""Paths and environment shared by the MCP tests (a module, so tests can import it by name)."""

from __future__ import annotations

from pathlib import Path

from mesh_agents.testing.otlp_receiver import OTLPReceiver

ROOT = Path(__file__).resolve().parents[2]
FRAME_SERVER = str(Path(__file__).with_name("frame_server.py"))
MESH_SERVER = str(Path(__file__).with_name("mesh_server.py"))


def child_env(receiver: OTLPReceiver, service_name: str) -> dict[str, str]:
    """Environment of a server child: export to the receiver quickly, import this checkout, no mesh.yaml."""
    return {
        "MESH_CONFIG": str(ROOT / "tests" / "mcp" / "absent-mesh.yaml"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
