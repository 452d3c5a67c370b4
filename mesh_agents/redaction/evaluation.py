"""Measuring PII detection on a labelled JSON Lines set.

Each record is ``{"id", "lang", "kind", "text", "entities": [{"start", "end", "label"}]}``
with Python ``str`` offsets. A prediction matches a labelled entity *exactly* when
label, start and end agree, and *by overlap* when the labels agree and the spans share
at least one character. Each labelled entity matches at most one prediction.

Only labels the chosen detectors can report are scored, so the patterns alone are not
charged with missing every person name.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesh_agents._jsonl import read_json_lines
from mesh_agents.errors import InvalidInputError
from mesh_agents.redaction.base import Entity

__all__ = ["EvalRecord", "EvalReport", "Scores", "evaluate", "load_records"]


@dataclass(frozen=True)
class EvalRecord:
    """One labelled text."""

    id: str
    lang: str
    kind: str
    text: str
    entities: tuple[tuple[int, int, str], ...]


@dataclass
class Scores:
    """Match counts of one label or language."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def support(self) -> int:
        """Labelled entities."""
        return self.true_positives + self.false_negatives

    @property
    def precision(self) -> float:
        """Share of predictions that are right; 1.0 when nothing was predicted and nothing expected."""
        predicted = self.true_positives + self.false_positives
        if predicted == 0:
            return 1.0 if self.support == 0 else 0.0
        return self.true_positives / predicted

    @property
    def recall(self) -> float:
        """Share of labelled entities found; 1.0 when there were none."""
        return self.true_positives / self.support if self.support else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def as_dict(self) -> dict[str, float | int]:
        """Return precision, recall, F1 (rounded to 4 places) and support."""
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "support": self.support,
        }


@dataclass
class EvalReport:
    """Detection quality and speed on a labelled set.

    Attributes:
        labels: Labels scored (those the detectors can report).
        exact, overlap: Scores per label under each matching rule.
        languages_exact, languages_overlap: Scores per language.
        hard_negative_false_positives: Wrong predictions in records of kind ``negative``.
        false_positive_examples: ``(record id, label)`` of each wrong prediction, for reading.
        records: Records scored.
        seconds: Detection time, seconds.
    """

    labels: list[str]
    exact: dict[str, Scores] = field(default_factory=dict)
    overlap: dict[str, Scores] = field(default_factory=dict)
    languages_exact: dict[str, Scores] = field(default_factory=dict)
    languages_overlap: dict[str, Scores] = field(default_factory=dict)
    hard_negative_false_positives: int = 0
    false_positive_examples: list[tuple[str, str]] = field(default_factory=list)
    records: int = 0
    characters: int = 0
    seconds: float = 0.0

    @property
    def texts_per_second(self) -> float:
        """Records detected per second."""
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """Return the machine-readable summary (exact matching)."""
        return {
            "labels": {label: self.exact[label].as_dict() for label in self.labels},
            "languages": {lang: scores.as_dict() for lang, scores in sorted(self.languages_exact.items())},
            "hard_negative_false_positives": self.hard_negative_false_positives,
            "texts_per_second": round(self.texts_per_second, 2),
        }


_RECORD_SHAPE = '{"id", "lang", "kind", "text", "entities": [{"start", "end", "label"}]}'


def load_records(path: str | Path) -> list[EvalRecord]:
    """Read a labelled JSON Lines file (UTF-8, one JSON object per line).

    Raises:
        InvalidInputError: the path is missing, is a directory or cannot be read, the
            file contains no record, or a line is not UTF-8 or not a valid record; the
            message names the line.
    """
    name = str(path)
    records = []
    for number, raw in read_json_lines(path, kind="evaluation file", hint=_RECORD_SHAPE):
        try:
            records.append(_parse_record(raw))
            continue
        except KeyError as exc:
            problem = f"missing field {exc.args[0]!r}"
        except (ValueError, TypeError) as exc:
            problem = str(exc)
        raise InvalidInputError(
            f"line {number} of {name!r} is not a valid record ({problem}): expected {_RECORD_SHAPE}",
            details={"line": number},
        )
    return records


def _parse_record(raw: Any) -> EvalRecord:
    if not isinstance(raw, dict):
        raise TypeError(f"a record must be a JSON object, not {type(raw).__name__}")
    text = raw["text"]
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    entities = []
    for entity in raw.get("entities", []):
        if not isinstance(entity, dict):
            raise TypeError("each entity must be a JSON object")
        start, end, label = int(entity["start"]), int(entity["end"]), str(entity["label"])
        if not 0 <= start < end <= len(text):
            raise ValueError(f"entity offsets {start}..{end} are outside the text")
        entities.append((start, end, label))
    return EvalRecord(str(raw["id"]), str(raw.get("lang", "unknown")), str(raw.get("kind", "")), text, tuple(entities))


def evaluate(
    records: Sequence[EvalRecord],
    detect: Callable[[list[str]], list[list[Entity]]],
    labels: Iterable[str],
    *,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Run ``detect`` over the records in batches and score its predictions.

    Args:
        records: Labelled texts.
        detect: Returns the entities of each text of a batch.
        labels: Labels to score; predictions and labelled entities of other labels are ignored.
        batch_size: Texts per ``detect`` call.
        progress: Called with the number of records done after each batch.
    """
    scored = sorted(set(labels))
    report = EvalReport(labels=scored)
    for label in scored:
        report.exact[label] = Scores()
        report.overlap[label] = Scores()

    predictions: list[list[Entity]] = []
    started = time.perf_counter()
    for first in range(0, len(records), batch_size):
        batch = records[first : first + batch_size]
        predictions.extend(detect([record.text for record in batch]))
        if progress is not None:
            progress(len(batch))
    report.seconds = time.perf_counter() - started
    report.records = len(records)
    report.characters = sum(len(record.text) for record in records)

    scored_labels = set(scored)
    for record, predicted in zip(records, predictions, strict=True):
        gold = [entity for entity in record.entities if entity[2] in scored_labels]
        guesses = [(e.start, e.end, e.label) for e in predicted if e.label in scored_labels]
        exact = _match(gold, guesses, overlap=False)
        overlap = _match(gold, guesses, overlap=True)
        for by_label, by_language, counts in (
            (report.exact, report.languages_exact, exact),
            (report.overlap, report.languages_overlap, overlap),
        ):
            language = by_language.setdefault(record.lang, Scores())
            for (kind, label), number in counts.items():
                _add(by_label[label], kind, number)
                _add(language, kind, number)
        wrong = [label for (kind, label), number in exact.items() if kind == "fp" for _ in range(number)]
        if record.kind == "negative":
            report.hard_negative_false_positives += len(wrong)
        report.false_positive_examples += [(record.id, label) for label in wrong]
    return report


def _match(
    gold: list[tuple[int, int, str]], guesses: list[tuple[int, int, str]], *, overlap: bool
) -> Counter[tuple[str, str]]:
    """Count true positives, false positives and false negatives per label, one-to-one."""
    counts: Counter[tuple[str, str]] = Counter()
    unmatched = list(guesses)
    for start, end, label in gold:
        hit = None
        for guess in unmatched:
            same = guess == (start, end, label)
            shared = guess[2] == label and guess[0] < end and start < guess[1]
            if same or (overlap and shared):
                hit = guess
                break
        if hit is None:
            counts[("fn", label)] += 1
        else:
            unmatched.remove(hit)
            counts[("tp", label)] += 1
    for _, _, label in unmatched:
        counts[("fp", label)] += 1
    return counts


def _add(scores: Scores, kind: str, number: int) -> None:
    if kind == "tp":
        scores.true_positives += number
    elif kind == "fp":
        scores.false_positives += number
    else:
        scores.false_negatives += number
