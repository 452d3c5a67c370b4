"""Entry point of the ``mesh-agents`` command; importing a command module registers it."""

from __future__ import annotations

from mesh_agents.cli import (  # noqa: F401 - imported for their command registrations
    cache,
    demo,
    guardrails,
    redaction,
    routing,
    serve,
    usage,
)
from mesh_agents.cli._apps import app

__all__ = ["app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
