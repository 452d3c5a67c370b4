"""CLI commands of the guardrails capability: ``mesh-agents eval guardrails FILE``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mesh_agents.cli._apps import eval_app

__all__ = ["eval_guardrails"]


@eval_app.command("guardrails")
def eval_guardrails(
    file: Annotated[
        Path, typer.Argument(help="JSON-lines file of labelled texts: id, text, label, kind, source, lang.")
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print only the JSON summary: overall metrics and flagged count per kind.")
    ] = False,
    split: Annotated[
        str,
        typer.Option(
            help=(
                "Records to score: 'heldout' leaves out the texts the shipped classifier was trained on; "
                "'train', 'test' or 'all' select the stratified split."
            )
        ),
    ] = "heldout",
    rules_only: Annotated[bool, typer.Option("--rules-only", help="Turn the learned classifier off.")] = False,
) -> None:
    """Measure prompt-injection detection: precision, recall, F1 and false-positive rate per kind, source and language.

    A record counts as detected when the input guardrails do anything but allow it
    (flag, rewrite or block). The policy is the mesh-wide guardrail policy from
    mesh.yaml and MESH_* variables.
    """
    from mesh_agents.errors import InvalidInputError
    from mesh_agents.guardrails.classifier import LinearHead
    from mesh_agents.guardrails.engine import GuardrailEngine
    from mesh_agents.guardrails.evaluation import load_records, run_evaluation, select_records
    from mesh_agents.settings import load_settings

    if split not in ("heldout", "train", "test", "all"):
        raise typer.BadParameter(f"unknown split {split!r}; use heldout, train, test or all", param_hint="--split")
    try:
        records = load_records(file)
    except InvalidInputError as exc:
        raise typer.BadParameter(exc.safe_message, param_hint="FILE") from exc

    settings = load_settings()
    if rules_only:
        settings.guardrails.injection.classifier.enabled = False
    head = LinearHead.load(settings.guardrails.injection.classifier.weights)
    selected = select_records(records, split, head.train_digests)  # type: ignore[arg-type]
    engine = GuardrailEngine(settings)
    try:
        result = run_evaluation(selected, engine)
    finally:
        engine.close()

    if json_output:
        typer.echo(json.dumps(result.as_json()))
        return
    _print_tables(file, split, len(records), len(selected), result)


def _print_tables(file: Path, split: str, total: int, selected: int, result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    metrics = result.metrics()
    console.print(f"[bold]{file.name}[/bold]: {selected} of {total} records ({split})")
    overall = Table("precision", "recall", "F1", "FPR", title="Overall")
    overall.add_row(*(f"{metrics[name]:.3f}" for name in ("precision", "recall", "f1", "fpr")))
    console.print(overall)

    for title, groups in (
        ("By kind", result.by_kind),
        ("By source", result.by_source),
        ("By language", result.by_lang),
        ("By origin", result.by_origin),
    ):
        table = Table(
            title.split()[-1], "n", "injections", "flagged", "blocked", "recall", "false-positive rate", title=title
        )
        for name, counts in sorted(groups.items()):
            group = result.metrics(counts)
            injections = counts.positives
            benign = counts.n - injections
            table.add_row(
                name,
                str(counts.n),
                str(injections),
                str(counts.flagged),
                str(counts.blocked),
                f"{group['recall']:.3f}" if injections else "-",
                f"{group['fpr']:.3f}" if benign else "-",
            )
        console.print(table)

    if result.blocked_hard_negative_ids:
        console.print(f"[red]blocked hard negatives:[/red] {', '.join(result.blocked_hard_negative_ids)}")
    else:
        console.print("no security_discussion or code_with_keywords record blocked")
    if result.false_positive_ids:
        console.print(f"false positives: {', '.join(result.false_positive_ids)}")
    if result.false_negative_ids:
        console.print(f"missed injections: {', '.join(result.false_negative_ids)}")
