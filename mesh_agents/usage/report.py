"""Usage reports: ledger records grouped by tenant, user, agent or model, as rows and as a PNG chart."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mesh_agents.errors import InvalidInputError
from mesh_agents.usage.base import UsageRecord

__all__ = ["GROUPINGS", "REPORT_COLUMNS", "aggregate", "parse_duration", "render_png"]

GROUPINGS = ("tenant", "user", "agent", "model", "target", "session", "run")

REPORT_COLUMNS = (
    "calls",
    "cache_hits",
    "failed",
    "blocked",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "cost_usd",
    "saved_usd",
    "unpriced",
    "estimated",
)
"""Columns of a report row besides the group key.

``calls`` counts settled model calls; ``input_tokens``, ``output_tokens``,
``cache_read_tokens`` (provider-side cache reads) and ``reasoning_tokens`` add up the
calls and failed attempts that consumed tokens; ``cached_tokens`` adds up the tokens
of answers the mesh's cache served instead; ``unpriced`` counts records of models
without a known price, whose cost is left out of ``cost_usd``; ``estimated`` counts
records whose tokens were counted locally.
"""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Parse ``30s``, ``15m``, ``12h``, ``7d`` or ``2w`` into seconds.

    Raises:
        InvalidInputError: the text is not a positive number followed by one of s, m, h, d, w.
    """
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:]) if value else None
    try:
        amount = float(value[:-1]) if unit else float("nan")
    except ValueError:
        amount = float("nan")
    if unit is None or not amount > 0:
        raise InvalidInputError(
            f"invalid duration {text!r}: write a positive number followed by s, m, h, d or w, such as 7d",
            details={"duration": text},
        )
    return amount * unit


def _group_key(record: UsageRecord, by: str) -> str:
    value = {
        "tenant": record.tenant,
        "user": record.user,
        "agent": record.agent,
        "model": record.model_name or record.target,
        "target": record.target,
        "session": record.session,
        "run": record.run_id,
    }[by]
    return value or "(none)"


def aggregate(records: Iterable[UsageRecord], by: str) -> list[dict[str, Any]]:
    """Group records by ``by`` (one of ``GROUPINGS``), most expensive first.

    Raises:
        InvalidInputError: ``by`` is not one of ``GROUPINGS``.
    """
    if by not in GROUPINGS:
        raise InvalidInputError(
            f"invalid report grouping {by!r}: use one of {', '.join(GROUPINGS)}", details={"by": by}
        )
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        key = _group_key(record, by)
        row = rows.get(key)
        if row is None:
            row = rows[key] = {by: key} | dict.fromkeys(REPORT_COLUMNS, 0)
            row["cost_usd"] = 0.0
            row["saved_usd"] = 0.0
        _add(row, record)
    return sorted(rows.values(), key=lambda r: (-r["cost_usd"], -(r["input_tokens"] + r["output_tokens"]), r[by]))


def _add(row: dict[str, Any], record: UsageRecord) -> None:
    usage = record.usage
    if record.outcome == "blocked":
        row["blocked"] += 1
        return
    if record.cached:
        row["cache_hits"] += 1
        row["cached_tokens"] += usage.total_tokens
        row["saved_usd"] += record.saved_usd or 0.0
        row["estimated"] += int(usage.estimated)
        return
    if record.outcome == "failed":
        row["failed"] += 1
    else:
        row["calls"] += 1
    row["input_tokens"] += usage.input_tokens
    row["output_tokens"] += usage.output_tokens
    row["cache_read_tokens"] += usage.cache_read_tokens
    row["reasoning_tokens"] += usage.reasoning_tokens
    row["estimated"] += int(usage.estimated)
    if record.cost_usd is None:
        if usage.total_tokens:
            row["unpriced"] += 1
    else:
        row["cost_usd"] += record.cost_usd


def render_png(rows: list[dict[str, Any]], by: str, path: str | Path, *, title: str | None = None) -> Path:
    """Draw tokens and cost per group as two horizontal bar charts and save them as a PNG.

    Uses matplotlib's Agg canvas directly, so no global backend or pyplot state is touched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = rows[:20]
    labels = [str(row[by]) for row in shown][::-1]
    inputs = [row["input_tokens"] for row in shown][::-1]
    outputs = [row["output_tokens"] for row in shown][::-1]
    cached = [row["cached_tokens"] for row in shown][::-1]
    costs = [row["cost_usd"] for row in shown][::-1]

    figure = Figure(figsize=(11, max(2.5, 0.45 * len(shown) + 1.5)), layout="constrained")
    FigureCanvasAgg(figure)
    tokens_axes, cost_axes = figure.subplots(1, 2, sharey=True)
    positions = list(range(len(shown)))
    tokens_axes.barh(positions, inputs, color="#4c72b0", label="input")
    tokens_axes.barh(positions, outputs, left=inputs, color="#55a868", label="output")
    stacked = [i + o for i, o in zip(inputs, outputs, strict=True)]
    tokens_axes.barh(positions, cached, left=stacked, color="#c7c7c7", label="served from cache")
    tokens_axes.set_yticks(positions, labels)
    tokens_axes.set_xlabel("tokens")
    tokens_axes.legend(loc="lower right", fontsize="small")
    cost_axes.barh(positions, costs, color="#dd8452")
    cost_axes.set_xlabel("cost (USD)")
    for position, row in zip(positions, shown[::-1], strict=True):
        if row["unpriced"]:
            cost_axes.annotate(
                f"{row['unpriced']} unpriced",
                (0, position),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
                color="#c44e52",
            )
    figure.suptitle(title or f"Usage by {by}")
    target = Path(path)
    figure.savefig(target, format="png", dpi=110)
    return target
