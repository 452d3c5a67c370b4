"""CLI commands of the routing capability: ``mesh-agents routes fit``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from mesh_agents.cli._apps import routes_app

if TYPE_CHECKING:
    from mesh_agents.routing.calibration import FitReport
    from mesh_agents.routing.semantic import Aggregation

__all__ = ["fit"]


@routes_app.command("fit")
def fit(
    examples: Annotated[Path, typer.Argument(help="JSON Lines of {'text', 'route' (null for none), 'lang'}.")],
    test_fraction: Annotated[float, typer.Option(help="Share of examples held out for the test, 0 to 1.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the stratified train/test split.")] = 0,
    aggregation: Annotated[str, typer.Option(help="How reference distances combine: avg, min or sum.")] = "avg",
    output: Annotated[
        Path | None, typer.Option(help="Write the fitted routes (train references and thresholds) as YAML here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of tables.")] = False,
) -> None:
    """Calibrate per-route distance thresholds from labelled examples and report route accuracy."""
    from mesh_agents.embeddings import default_vectorizer
    from mesh_agents.errors import MeshError
    from mesh_agents.routing.calibration import fit_routes, load_examples

    if aggregation not in ("avg", "min", "sum"):
        raise typer.BadParameter(f"{aggregation!r} is not one of avg, min, sum", param_hint="--aggregation")
    if output is not None and not output.parent.is_dir():
        typer.echo(f"error: --output: folder {str(output.parent)!r} does not exist; create it first", err=True)
        raise typer.Exit(code=2)
    try:
        report = fit_routes(
            load_examples(examples),
            default_vectorizer(),
            aggregation=cast("Aggregation", aggregation),
            test_fraction=test_fraction,
            seed=seed,
        )
    except MeshError as exc:
        typer.echo(f"error: {exc.safe_message}", err=True)
        raise typer.Exit(code=2) from None

    if as_json:
        typer.echo(json.dumps(report.summary(), indent=2))
    else:
        _print_report(report)
    if output is not None:
        import yaml

        routes = [route.model_dump() for route in report.to_routes()]
        policy = {"kind": "semantic_routes", "aggregation": report.aggregation, "routes": routes}
        text = yaml.safe_dump({"routing": {"policies": [policy]}}, allow_unicode=True, sort_keys=False)
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            typer.echo(f"error: cannot write {str(output)!r} ({exc.strerror or type(exc).__name__})", err=True)
            raise typer.Exit(code=2) from None
        typer.echo(f"wrote {len(routes)} routes to {output}")


def _print_report(report: FitReport) -> None:
    from rich.console import Console
    from rich.table import Table

    # Wide enough for the confusion matrix even when stdout is not a terminal.
    console = Console(width=max(Console().width, 120))
    console.print(
        f"Split: {report.train_size} train / {report.test_size} test examples "
        f"(test fraction {report.test_fraction}, seed {report.seed}, stratified by route and language). "
        "Train examples are the route references; thresholds are fitted on train with leave-one-out; "
        "accuracy is measured on test."
    )
    console.print(f"Embedding model: {report.vectorizer}; aggregation: {report.aggregation}")

    routes = Table(title="Routes (test set)")
    for column in ("route", "distance_threshold", "support", "correct", "accuracy (recall)", "precision"):
        routes.add_column(column, justify="right" if column != "route" else "left")
    for name, row in report.per_route.items():
        threshold = report.thresholds.get(name)
        routes.add_row(
            name,
            "-" if threshold is None else f"{threshold:.2f}",
            str(int(row["support"])),
            str(int(row["correct"])),
            f"{row['recall']:.1%}",
            f"{row['precision']:.1%}",
        )
    console.print(routes)

    names = list(report.confusion)
    confusion = Table(title="Confusion (rows: true route, columns: predicted)")
    confusion.add_column("true \\ predicted")
    for name in names:
        confusion.add_column(name, justify="right")
    for true in names:
        confusion.add_row(true, *(str(report.confusion[true][guess]) for guess in names))
    console.print(confusion)

    languages = Table(title="Accuracy by language (test set)")
    for column in ("language", "support", "accuracy"):
        languages.add_column(column)
    for language, row in report.per_language.items():
        languages.add_row(language, str(int(row["support"])), f"{row['accuracy']:.1%}")
    console.print(languages)
    console.print(
        f"Overall accuracy: test {report.test_accuracy:.1%}, train (leave-one-out) {report.train_accuracy:.1%}"
    )
