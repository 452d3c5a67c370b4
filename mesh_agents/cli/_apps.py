"""Typer apps that the command modules register on."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="mesh-agents: routing, semantic cache, PII redaction, budgets and guardrails for agents.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
eval_app = typer.Typer(help="Measure a capability on a labelled data set.", no_args_is_help=True)
cache_app = typer.Typer(help="Semantic cache tools.", no_args_is_help=True)
routes_app = typer.Typer(help="Semantic route tools.", no_args_is_help=True)
usage_app = typer.Typer(help="Token and cost reports.", no_args_is_help=True)

app.add_typer(eval_app, name="eval")
app.add_typer(cache_app, name="cache")
app.add_typer(routes_app, name="routes")
app.add_typer(usage_app, name="usage")
