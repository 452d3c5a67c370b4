"""CLI commands of the usage capability: ``mesh-agents usage report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mesh_agents.cli._apps import usage_app

__all__ = ["report"]

_HEADERS = {
    "calls": "calls",
    "cache_hits": "cache\nhits",
    "failed": "failed",
    "blocked": "blocked",
    "input_tokens": "input\ntokens",
    "output_tokens": "output\ntokens",
    "cache_read_tokens": "cache-read\ntokens",
    "reasoning_tokens": "reasoning\ntokens",
    "cached_tokens": "served from\ncache tokens",
    "cost_usd": "cost\nUSD",
    "saved_usd": "saved\nUSD",
    "unpriced": "unpriced",
    "estimated": "estimated",
}
"""Header of every report column, in the order ``--wide`` prints them."""

DEFAULT_COLUMNS = ("calls", "cache_hits", "blocked", "input_tokens", "output_tokens", "cost_usd")
"""Columns printed without ``--wide`` or ``--columns``: they fit an 80-column terminal."""


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
    wide: Annotated[bool, typer.Option("--wide", help="Print every column (needs about 200 columns).")] = False,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help=f"Comma-separated columns to print, from: {', '.join(_HEADERS)}. "
            f"Default: {','.join(DEFAULT_COLUMNS)}.",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings file; defaults to MESH_CONFIG or ./mesh.yaml.")
    ] = None,
) -> None:
    """Report tokens, cost, cache hits and blocked calls from the usage ledger."""
    import json

    from mesh_agents.errors import InvalidInputError, MeshError
    from mesh_agents.settings import load_settings
    from mesh_agents.types import validate_identifier
    from mesh_agents.usage import UsageTracker
    from mesh_agents.usage.report import parse_duration, render_png

    try:
        shown = _columns(wide, columns)
        if tenant is not None:
            try:
                validate_identifier("tenant", tenant)
            except ValueError as exc:
                raise InvalidInputError(f"--tenant: {exc}") from exc
        if png is not None:
            _check_writable(png)
        settings = load_settings(config)
        if not settings.redis_url and settings.usage.ledger_path is None:
            typer.echo(
                "The usage ledger is kept in the memory of the process that made the calls, so there is nothing "
                "to report here. Set MESH_REDIS_URL, or usage.ledger_path in mesh.yaml, to keep a shared ledger.",
                err=True,
            )
            raise typer.Exit(2)
        rows = UsageTracker(settings).report(by=by, since_s=parse_duration(since), tenant=tenant)
    except MeshError as exc:
        typer.echo(f"error: {exc.safe_message}", err=True)
        raise typer.Exit(2) from None

    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        _print_table(_table(rows, by, since, shown))
    if png is not None:
        try:
            path = render_png(rows, by, png, title=f"Usage by {by}, last {since}")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            typer.echo(f"error: cannot write the chart to {str(png)!r} ({reason})", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"chart written to {path}", err=True)


def _columns(wide: bool, columns: str | None) -> tuple[str, ...]:
    from mesh_agents.errors import InvalidInputError

    if wide and columns is not None:
        raise InvalidInputError("pass either --wide or --columns, not both")
    if wide:
        return tuple(_HEADERS)
    if columns is None:
        return DEFAULT_COLUMNS
    names = tuple(name.strip() for name in columns.split(",") if name.strip())
    unknown = [name for name in names if name not in _HEADERS]
    if unknown or not names:
        raise InvalidInputError(
            f"--columns: unknown column(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"use a comma-separated list from: {', '.join(_HEADERS)}"
        )
    return names


def _check_writable(png: Path) -> None:
    """Fail before the report is read if the chart cannot be written where asked."""
    from mesh_agents.errors import InvalidInputError

    folder = png.parent
    if not folder.is_dir():
        raise InvalidInputError(f"--png: folder {str(folder)!r} does not exist; create it or choose another path")
    if png.is_dir():
        raise InvalidInputError(f"--png: {str(png)!r} is a folder; give a file name such as usage.png")


def _print_table(table: Any) -> None:
    """Print the table; wider than the terminal only where the numbers would otherwise be cut."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console()
    # The group column may fold down to its min_width; the numbers never fold.
    group = table.columns[0]
    group.max_width = group.min_width
    needed = Measurement.get(console, console.options.update(max_width=10_000), table).minimum
    group.max_width = None
    if needed > console.width:
        console = Console(width=needed)
    console.print(table)


def _table(rows: list[dict[str, Any]], by: str, since: str, columns: tuple[str, ...] = DEFAULT_COLUMNS) -> Any:
    from rich.table import Table

    table = Table(title=f"Usage by {by}, last {since}", show_edge=False)
    # Group keys may be long ids: fold them; numbers never wrap and are never cut short.
    table.add_column(by, overflow="fold", min_width=min(10, max((len(str(row[by])) for row in rows), default=5)))
    for name in columns:
        table.add_column(_HEADERS[name], justify="right", no_wrap=True, overflow="fold")
    totals: dict[str, float] = dict.fromkeys(columns, 0)
    for row in rows:
        table.add_row(str(row[by]), *(_cell(name, row[name]) for name in columns))
        for name in columns:
            totals[name] += row[name]
    if len(rows) > 1:
        table.add_section()
        table.add_row("total", *(_cell(name, totals[name]) for name in columns))
    if not rows:
        table.caption = "no usage recorded in this period"
    return table


def _cell(name: str, value: float) -> str:
    if name.endswith("_usd"):
        return f"{value:.6f}"
    return f"{int(value):,}"
