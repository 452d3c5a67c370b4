"""CLI commands of the usage capability: ``mesh-agents usage report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mesh_agents.cli._apps import usage_app

__all__ = ["report"]

_COLUMNS = (
    ("calls", "calls"),
    ("cache_hits", "cache hits"),
    ("failed", "failed"),
    ("blocked", "blocked"),
    ("input_tokens", "input tok"),
    ("output_tokens", "output tok"),
    ("cache_read_tokens", "cache-read tok"),
    ("cached_tokens", "served from cache tok"),
    ("cost_usd", "cost USD"),
    ("saved_usd", "saved USD"),
    ("unpriced", "unpriced"),
)


@usage_app.command("report")
def report(
    by: Annotated[
        str, typer.Option("--by", help="Group by tenant, user, agent, model, target, session or run.")
    ] = "tenant",
    since: Annotated[
        str, typer.Option("--since", help="Only usage from this far back: a number and s, m, h, d or w, such as 7d.")
    ] = "7d",
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's usage.")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also draw the report as a PNG chart to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON instead of a table.")] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings file; defaults to MESH_CONFIG or ./mesh.yaml.")
    ] = None,
) -> None:
    """Report tokens, cost, cache hits and blocked calls from the usage ledger."""
    import json

    from rich.console import Console

    from mesh_agents.errors import MeshError
    from mesh_agents.settings import load_settings
    from mesh_agents.usage import UsageTracker
    from mesh_agents.usage.report import parse_duration, render_png

    errors = Console(stderr=True)
    try:
        settings = load_settings(config)
        if not settings.redis_url and settings.usage.ledger_path is None:
            errors.print(
                "The usage ledger is kept in the memory of the process that made the calls, so there is nothing "
                "to report here. Set MESH_REDIS_URL, or usage.ledger_path in mesh.yaml, to keep a shared ledger."
            )
            raise typer.Exit(2)
        rows = UsageTracker(settings).report(by=by, since_s=parse_duration(since), tenant=tenant)
    except MeshError as exc:
        errors.print(f"error: {exc.safe_message}")
        raise typer.Exit(2) from exc

    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        Console().print(_table(rows, by, since))
    if png is not None:
        path = render_png(rows, by, png, title=f"Usage by {by}, last {since}")
        errors.print(f"chart written to {path}")


def _table(rows: list[dict[str, Any]], by: str, since: str) -> Any:
    from rich.table import Table

    table = Table(title=f"Usage by {by}, last {since}")
    table.add_column(by)
    for _, header in _COLUMNS:
        table.add_column(header, justify="right")
    totals: dict[str, float] = dict.fromkeys((name for name, _ in _COLUMNS), 0)
    for row in rows:
        table.add_row(str(row[by]), *(_cell(name, row[name]) for name, _ in _COLUMNS))
        for name, _ in _COLUMNS:
            totals[name] += row[name]
    if len(rows) > 1:
        table.add_section()
        table.add_row("total", *(_cell(name, totals[name]) for name, _ in _COLUMNS))
    if not rows:
        table.caption = "no usage recorded in this period"
    return table


def _cell(name: str, value: float) -> str:
    if name.endswith("_usd"):
        return f"{value:.6f}"
    return f"{int(value):,}"
