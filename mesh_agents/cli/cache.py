"""CLI commands of the cache: ``mesh-agents cache calibrate`` and ``mesh-agents eval cache``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mesh_agents.cli._apps import cache_app, eval_app

if TYPE_CHECKING:
    from mesh_agents.cache.evaluation import CalibrationRow
    from mesh_agents.settings import MeshSettings

# Thresholds printed in the calibration table, beside the chosen one.
_TABLE_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def _settings(config: Path | None) -> MeshSettings:
    from mesh_agents.settings import load_settings

    return load_settings(config)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


@eval_app.command("cache")
def eval_cache(
    pairs: Annotated[Path, typer.Option(help="Labelled request pairs, JSON lines with a, b, label, kind.")],
    stream: Annotated[Path, typer.Option(help="Ordered request stream, JSON lines with intent, text, tenant.")],
    config: Annotated[Path | None, typer.Option(help="mesh.yaml to read; default MESH_CONFIG or ./mesh.yaml.")] = None,
    threshold: Annotated[
        float | None, typer.Option(min=0.0, max=2.0, help="Cosine distance, 0 to 2; default cache.distance_threshold.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object for machines.")] = False,
) -> None:
    """Report precision, recall and F1 per kind on the pairs, and hits and wrong hits on the stream."""
    from mesh_agents.cache import evaluation
    from mesh_agents.embeddings import default_vectorizer
    from mesh_agents.errors import MeshError

    try:
        settings = _settings(config)
        if threshold is not None:
            settings = settings.model_copy(
                update={"cache": settings.cache.model_copy(update={"distance_threshold": threshold})}
            )
        chosen = settings.cache.distance_threshold
        vectorizer = default_vectorizer()
        outcomes = evaluation.measure_pairs(evaluation.load_pairs(pairs), settings, vectorizer)
        pair_scores = evaluation.score_pairs(outcomes, chosen)
        stream_scores = evaluation.run_stream(evaluation.load_stream(stream), settings, vectorizer)
    except MeshError as exc:
        raise _fail(exc.safe_message) from exc

    if as_json:
        report = {"threshold": chosen, "pairs": pair_scores.as_json(), "stream": stream_scores.as_json()}
        typer.echo(json.dumps(report))
        return
    _print_pairs(pair_scores)
    _print_stream(stream_scores)


@cache_app.command("calibrate")
def calibrate(
    pairs: Annotated[Path, typer.Argument(help="Labelled request pairs, JSON lines with a, b, label, kind.")],
    target_precision: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Lowest acceptable share of hits that are correct.")
    ] = 0.98,
    config: Annotated[
        Path | None,
        typer.Option(help="mesh.yaml that receives cache.distance_threshold; default MESH_CONFIG or ./mesh.yaml."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="PNG of precision and hit rate against the threshold; default beside config.")
    ] = None,
    max_negative_rate: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Highest share of any 'different' kind's pairs that may be hits."),
    ] = None,
    write: Annotated[bool, typer.Option(help="Write the chosen threshold into the config file.")] = True,
) -> None:
    """Pick the threshold with the most hits that meets the precision target, and write it to the config.

    Rewriting the YAML keeps every setting but drops its comments.
    """
    from mesh_agents.cache import evaluation
    from mesh_agents.embeddings import default_vectorizer
    from mesh_agents.errors import MeshError

    config_path = config or Path(os.environ.get("MESH_CONFIG", "mesh.yaml"))
    plot_path = plot or config_path.with_name("cache-calibration.png")
    try:
        settings = _settings(config_path if config_path.is_file() else None)
        outcomes = evaluation.measure_pairs(evaluation.load_pairs(pairs), settings, default_vectorizer())
        threshold, rows = evaluation.calibrate(outcomes, target_precision, max_negative_rate=max_negative_rate)
    except MeshError as exc:
        raise _fail(exc.safe_message) from exc

    _print_calibration(rows, threshold, outcomes)
    _plot(rows, threshold, target_precision, plot_path)
    typer.echo(f"chosen distance_threshold: {threshold} (target precision {target_precision})")
    typer.echo(f"plot: {plot_path}")
    if write:
        _write_threshold(config_path, threshold)
        typer.echo(f"wrote cache.distance_threshold = {threshold} to {config_path}")


def _print_pairs(scores: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Pairs at distance_threshold {scores.threshold}")
    table.add_column("kind")
    table.add_column("pairs", justify="right")
    table.add_column("hits", justify="right")
    for kind, counts in scores.by_kind.items():
        table.add_row(kind, str(counts["n"]), str(counts["hits"]))
    console = Console()
    console.print(table)
    console.print(f"precision {scores.precision:.4f}  recall {scores.recall:.4f}  F1 {scores.f1:.4f}")


def _print_stream(scores: Any) -> None:
    def share(count: int) -> str:
        return f"{count} ({count / scores.requests:.1%})"

    typer.echo(f"stream: {scores.requests} requests")
    typer.echo(f"  hits              {share(scores.hits)}")
    typer.echo(f"  wrong hits        {share(scores.wrong_hits)}")
    typer.echo(f"  cross-tenant hits {share(scores.cross_tenant_hits)}")
    typer.echo(f"  ceiling           {share(scores.ceiling)} (tenant and intent seen before)")
    typer.echo(f"  exact-text cache  {share(scores.exact_text)} (tenant and text seen before)")
    if scores.refused_by:
        refusals = ", ".join(f"{name} {count}" for name, count in scores.refused_by.items())
        typer.echo(f"  guard refusals    {refusals}")


def _row_at(rows: list[CalibrationRow], threshold: float) -> CalibrationRow | None:
    below = [row for row in rows if row.threshold <= threshold]
    return below[-1] if below else None


def _print_calibration(rows: list[CalibrationRow], chosen: float, outcomes: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Calibration on the pairs (guards applied)")
    for name in ("distance_threshold", "precision", "recall", "hit rate", "hits"):
        table.add_column(name, justify="right")
    for threshold in sorted({*_TABLE_THRESHOLDS, chosen}):
        row = _row_at(rows, threshold)
        marker = " (chosen)" if threshold == chosen else ""
        if row is None:
            table.add_row(f"{threshold}{marker}", "-", "0.0000", "0.0000", "0")
            continue
        table.add_row(
            f"{threshold}{marker}",
            f"{row.precision:.4f}",
            f"{row.recall:.4f}",
            f"{row.hit_rate:.4f}",
            str(row.hits),
        )
    Console().print(table)
    refused = sum(1 for outcome in outcomes if outcome.refused_by not in (None, "threshold"))
    typer.echo(f"{refused} of {len(outcomes)} pairs refused by a guard at any threshold")


def _plot(rows: list[CalibrationRow], chosen: float, target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = [0.0] + [row.threshold for row in rows]
    precision = [1.0] + [row.precision for row in rows]
    hit_rate = [0.0] + [row.hit_rate for row in rows]
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.step(thresholds, precision, where="post", label="precision")
    axes.step(thresholds, hit_rate, where="post", label="hit rate")
    axes.axhline(target, color="grey", linestyle=":", label=f"target precision {target}")
    axes.axvline(chosen, color="black", linestyle="--", label=f"chosen {chosen}")
    axes.set_xlabel("distance_threshold (cosine distance)")
    axes.set_ylim(0, 1.02)
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _write_threshold(path: Path, threshold: float) -> None:
    import yaml

    data: dict[str, Any] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if loaded is not None and not isinstance(loaded, dict):
            raise _fail(f"{path} does not contain a YAML mapping: fix the file or pass --config")
        data = loaded or {}
    cache = data.setdefault("cache", {})
    if not isinstance(cache, dict):
        raise _fail(f"'cache' in {path} is not a mapping: fix the file or pass --config")
    cache["distance_threshold"] = threshold
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
