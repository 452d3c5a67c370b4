"""CLI commands of the redaction capability: ``mesh-agents eval pii``."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mesh_agents.cli._apps import eval_app

if TYPE_CHECKING:
    from mesh_agents.settings import MeshSettings

__all__ = ["eval_pii"]


class DetectorChoice(enum.StrEnum):
    PATTERNS = "patterns"
    GLINER = "gliner"
    ALL = "all"


@eval_app.command("pii")
def eval_pii(
    file: Annotated[Path, typer.Argument(help="Labelled JSON Lines file, one record per line.")],
    detectors: Annotated[
        DetectorChoice, typer.Option(help="Detectors to run: the validated patterns, GLiNER, or both.")
    ] = DetectorChoice.PATTERNS,
    gliner_model: Annotated[
        str | None, typer.Option(help="GLiNER model id or local folder; defaults to redaction.gliner.model.")
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(help="Evaluate this tenant's redaction policy; defaults to the mesh-wide policy."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Mesh settings file; defaults to MESH_CONFIG or ./mesh.yaml.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per detection call.")] = 16,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the figures as JSON.")] = False,
    errors: Annotated[int, typer.Option(min=0, help="List up to this many wrong predictions (record id, label).")] = 0,
) -> None:
    """Measure PII detection: precision, recall and F1 per label and language, and speed.

    The policy (phone regions, national ids, labels, allow lists) is the mesh-wide one
    from the settings, or the tenant's with --tenant. --detectors picks the detectors.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mesh_agents.errors import MeshError
    from mesh_agents.redaction.evaluation import evaluate, load_records
    from mesh_agents.redaction.memory import MemoryVault
    from mesh_agents.redaction.redactor import Redactor

    console = Console(stderr=True)
    names = ["patterns", "gliner"] if detectors is DetectorChoice.ALL else [detectors.value]
    try:
        records = load_records(file)
        settings = _evaluation_settings(config, tenant, names, gliner_model)
        policy = settings.redaction
        redactor = Redactor(settings, vault=MemoryVault())
        labels = {label for detector in redactor.detectors_for(policy) for label in getattr(detector, "labels", ())}
        if policy.labels is not None:
            labels &= set(policy.labels)

        with Progress(
            TextColumn("detecting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("detect", total=len(records))
            report = evaluate(
                records,
                # The settings carry no tenant list, so any tenant id gets the chosen policy.
                lambda texts: redactor.detect(texts, tenant=tenant or "eval"),
                labels,
                batch_size=batch_size,
                progress=lambda done: bar.advance(task, done),
            )
    except MeshError as exc:
        console.print(f"[red]error:[/red] {exc.safe_message}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None

    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
        return
    _print_report(report, names, errors)


def _evaluation_settings(
    config: Path | None, tenant: str | None, detectors: list[str], gliner_model: str | None
) -> MeshSettings:
    """Return settings whose mesh-wide policy is the one to evaluate, with no tenant list."""
    from mesh_agents.settings import load_settings

    settings = load_settings(config)
    if tenant is not None:
        settings = settings.for_tenant(tenant)
    policy = settings.redaction
    update: dict[str, Any] = {"detectors": detectors, "detection_timeout_s": None}
    if gliner_model:
        update["gliner"] = policy.gliner.model_copy(update={"model": gliner_model})
    return settings.model_copy(
        update={"redaction": policy.model_copy(update=update), "tenants": {}, "max_input_chars": 10**9}
    )


def _print_report(report: object, detectors: list[str], errors: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from mesh_agents.redaction.evaluation import EvalReport, Scores

    assert isinstance(report, EvalReport)
    console = Console()

    def add_rows(table: Table, exact: dict[str, Scores], overlap: dict[str, Scores]) -> None:
        for name in sorted(exact):
            e, o = exact[name], overlap[name]
            table.add_row(
                name,
                str(e.support),
                f"{e.precision:.3f}",
                f"{e.recall:.3f}",
                f"{e.f1:.3f}",
                f"{o.precision:.3f}",
                f"{o.recall:.3f}",
                f"{o.f1:.3f}",
            )

    for title, exact, overlap in (
        ("label", report.exact, report.overlap),
        ("language", report.languages_exact, report.languages_overlap),
    ):
        table = Table(
            title=f"PII detection by {title} ({', '.join(detectors)})",
            caption="exact: same label and span; overlap: same label, spans share a character",
        )
        table.add_column(title, no_wrap=True)
        for column in ("support", "P exact", "R exact", "F1 exact", "P overlap", "R overlap", "F1 overlap"):
            table.add_column(column, justify="right")
        add_rows(table, exact, overlap)
        console.print(table)

    megabytes = report.characters / 1e6
    console.print(f"false positives on hard negatives: {report.hard_negative_false_positives}")
    console.print(
        f"{report.records} texts in {report.seconds:.2f} s: {report.texts_per_second:.1f} texts/s, "
        f"{megabytes / report.seconds if report.seconds else 0.0:.3f} M characters/s"
    )
    for record_id, label in report.false_positive_examples[:errors]:
        console.print(f"false positive: {record_id} {label}")
