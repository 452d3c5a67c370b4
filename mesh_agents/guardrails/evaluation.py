"""Labelled injection data: loading, the train/test split, and detection metrics.

The data format is one JSON object per line with ``id``, ``text``, ``label``
(``injection`` or ``benign``), ``kind``, ``source`` and ``lang``. The split is
stratified by ``kind``: within each kind, records are ordered by the SHA-256 of
their id and the first half (rounded up) goes to training. Adding records to a kind
moves only the records near the cut, and the split never depends on file order.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mesh_agents._jsonl import read_json_lines
from mesh_agents.errors import InvalidInputError
from mesh_agents.types import Source

__all__ = [
    "Evaluation",
    "Record",
    "evaluate",
    "load_records",
    "source_of",
    "split_records",
    "text_digest",
]

Split = Literal["train", "test", "all"]

# Data sources in the file, mapped to where the text enters the agent.
_SOURCES = {
    "user": Source.USER,
    "tool_result": Source.TOOL_RESULT,
    "email": Source.TOOL_RESULT,
    "web": Source.TOOL_RESULT,
    "document": Source.DOCUMENT,
    "code": Source.DOCUMENT,
}
_REQUIRED = ("id", "text", "label", "kind")


@dataclass(frozen=True)
class Record:
    """One labelled text."""

    id: str
    text: str
    injection: bool
    kind: str
    source: str = "user"
    lang: str = "en"
    origin: str = ""


def source_of(record: Record) -> Source:
    """Return the guardrail source for the record's data source (email and web pages are tool results)."""
    return _SOURCES.get(record.source, Source.USER)


def text_digest(text: str) -> str:
    """Return a short, stable digest of a text, used to recognise training records."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_records(path: str | Path) -> list[Record]:
    """Read a JSON-lines file of labelled texts.

    Raises:
        InvalidInputError: the file is missing, empty or not UTF-8, a line is not a JSON
            object, a field is missing or a label is neither ``injection`` nor ``benign``;
            the message names the line.
    """
    file = Path(path)
    records = []
    for number, row in read_json_lines(file, kind="data file", hint=f"with the fields {list(_REQUIRED)}"):
        if not isinstance(row, dict):
            raise InvalidInputError(f"{file.name} line {number} is not a JSON object; write one object per line")
        missing = [name for name in _REQUIRED if name not in row]
        if missing:
            raise InvalidInputError(f"{file.name} line {number} lacks the fields {missing}; add them")
        if row["label"] not in ("injection", "benign"):
            raise InvalidInputError(
                f"{file.name} line {number} has label {row['label']!r}; use 'injection' or 'benign'"
            )
        records.append(
            Record(
                id=str(row["id"]),
                text=str(row["text"]),
                injection=row["label"] == "injection",
                kind=str(row["kind"]),
                source=str(row.get("source", "user")),
                lang=str(row.get("lang", "en")),
                origin=str(row.get("origin", "")),
            )
        )
    return records


def split_records(records: Sequence[Record], split: Split, *, train_share: float = 0.5) -> list[Record]:
    """Return the ``train`` or ``test`` part of ``records`` (or ``all``), stratified by kind."""
    if split == "all":
        return list(records)
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_kind[record.kind].append(record)
    chosen: set[int] = set()
    for members in by_kind.values():
        ordered = sorted(members, key=lambda r: hashlib.sha256(r.id.encode("utf-8")).hexdigest())
        cut = math.ceil(len(ordered) * train_share)
        part = ordered[:cut] if split == "train" else ordered[cut:]
        chosen.update(id(record) for record in part)
    return [record for record in records if id(record) in chosen]


@dataclass
class _Counts:
    n: int = 0
    flagged: int = 0
    blocked: int = 0
    positives: int = 0
    true_positives: int = 0

    def add(self, injection: bool, flagged: bool, blocked: bool) -> None:
        self.n += 1
        self.flagged += flagged
        self.blocked += blocked
        self.positives += injection
        self.true_positives += injection and flagged


@dataclass
class Evaluation:
    """Detection figures over a set of records; a record counts as detected when its action is not allow."""

    overall: _Counts = field(default_factory=_Counts)
    by_kind: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))
    by_source: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))
    by_lang: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))
    by_origin: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))
    false_positive_ids: list[str] = field(default_factory=list)
    false_negative_ids: list[str] = field(default_factory=list)
    blocked_hard_negative_ids: list[str] = field(default_factory=list)

    def metrics(self, counts: _Counts | None = None) -> dict[str, float]:
        """Precision, recall, F1 and false-positive rate of ``counts`` (default: all records)."""
        c = counts or self.overall
        tp = c.true_positives
        fp = c.flagged - tp
        fn = c.positives - tp
        negatives = c.n - c.positives
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        fpr = fp / negatives if negatives else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "fpr": fpr}

    def as_json(self) -> dict[str, Any]:
        """The machine-readable summary: overall metrics and the count flagged per kind."""
        return {
            "overall": {name: round(value, 4) for name, value in self.metrics().items()},
            "by_kind": {kind: {"n": c.n, "flagged": c.flagged} for kind, c in sorted(self.by_kind.items())},
        }


# Benign kinds that look like attacks; none of them may be blocked.
HARD_NEGATIVE_KINDS = frozenset({"security_discussion", "code_with_keywords"})


def evaluate(records: Iterable[Record], decide: Callable[[Record], tuple[bool, bool]]) -> Evaluation:
    """Score ``decide(record) -> (flagged, blocked)`` over ``records``."""
    result = Evaluation()
    for record in records:
        flagged, blocked = decide(record)
        for counts in (
            result.overall,
            result.by_kind[record.kind],
            result.by_source[record.source],
            result.by_lang[record.lang],
            result.by_origin["written" if record.origin == "written" else "public"],
        ):
            counts.add(record.injection, flagged, blocked)
        if flagged and not record.injection:
            result.false_positive_ids.append(record.id)
        if record.injection and not flagged:
            result.false_negative_ids.append(record.id)
        if blocked and record.kind in HARD_NEGATIVE_KINDS and not record.injection:
            result.blocked_hard_negative_ids.append(record.id)
    return result


HeldOut = Literal["heldout", "train", "test", "all"]


def select_records(records: Sequence[Record], split: HeldOut, train_digests: frozenset[str]) -> list[Record]:
    """Pick the records to score.

    ``heldout`` leaves out every record whose text the shipped classifier head was
    trained on (for the data file it was trained on, that is the ``test`` part; for
    any other file, all of it). ``train``, ``test`` and ``all`` are the plain split.
    """
    if split == "heldout":
        return [record for record in records if text_digest(record.text) not in train_digests]
    return split_records(records, split)


def run_evaluation(records: Sequence[Record], engine: Any, *, tenant: str = "eval") -> Evaluation:
    """Screen every record with ``engine`` (a ``GuardrailEngine``) as text from the record's source."""
    from mesh_agents.guardrails.base import Action, GuardContext

    context = GuardContext(tenant=tenant)

    def decide(record: Record) -> tuple[bool, bool]:
        report = engine.check(record.text, source_of(record), context)
        return report.action is not Action.ALLOW, report.action is Action.BLOCK

    return evaluate(records, decide)
