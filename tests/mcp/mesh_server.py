"""The mesh's MCP server with real capabilities, run as a child process by the tests.

Usage: PYTHONPATH=. python tests/mcp/mesh_server.py stdio|http [port]

The router's targets are LangChain's fake chat models: routing reads their metadata
and never calls them. ``MESH_REDIS_URL`` in the environment moves the vault, cache and
router health to Redis, as it does for ``mesh-agents serve``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from mcp_servers.server import build_server, default_tool_modules, run_http, run_stdio
from mesh_agents.mesh import Mesh
from mesh_agents.routing.targets import target_from_model
from mesh_agents.settings import MeshSettings, TenantSettings
from mesh_agents.tracing import setup

TENANTS = ("acme", "globex")
MAX_INPUT_CHARS = 5000


def _targets() -> dict[str, Any]:
    def model() -> GenericFakeChatModel:
        return GenericFakeChatModel(messages=iter([AIMessage("unused")]))

    return {
        "small": target_from_model("small", model(), provider="openai", model_name="gpt-4o-mini"),
        "large": target_from_model("large", model(), provider="openai", model_name="gpt-4o"),
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    telemetry = setup("mesh-server")
    tenants = {tenant: TenantSettings() for tenant in TENANTS}
    settings = MeshSettings(tenants=tenants, max_input_chars=MAX_INPUT_CHARS)
    server = build_server(Mesh(settings, targets=_targets()), tools=default_tool_modules())
    flush = telemetry.shutdown if telemetry is not None else None
    try:
        if sys.argv[1] == "stdio":
            run_stdio(server)
        else:
            run_http(server, port=int(sys.argv[2]) if len(sys.argv) > 2 else 0, on_shutdown=flush)
            flush = None
    finally:
        if flush is not None:
            flush()


if __name__ == "__main__":
    main()
