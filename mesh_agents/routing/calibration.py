"""Calibrate per-route distance thresholds from labelled examples and report route accuracy.

The examples are split into train and test sets, stratified by route and language.
Train examples become the route references. Thresholds are fitted on the train set
with leave-one-out (an example never matches itself), by coordinate ascent over a
grid of cosine distances, using ``route_distances`` (the code that serves requests).
Accuracy, per route and overall, is then measured on the test set, whose examples
were neither references nor used for fitting.

Examples labelled with no route (``"route": null``) are requests that should match
nothing; they keep thresholds from growing until everything matches.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mesh_agents.embeddings import Vectorizer
from mesh_agents.errors import InvalidInputError
from mesh_agents.routing.schema import SemanticRouteSettings
from mesh_agents.routing.semantic import Aggregation, best_routes, route_distances

__all__ = ["FitReport", "LabelledExample", "fit_routes", "load_examples", "split_examples"]

NO_ROUTE = "(none)"
"""Label shown in reports for requests that should match no route."""

_GRID = np.round(np.arange(0.05, 1.2001, 0.01), 2)
_MAX_PASSES = 8

MIN_EXAMPLES_PER_ROUTE = 3
"""Fewest examples a route needs: two train references (fitting leaves one out) and one test example."""


@dataclass(frozen=True)
class LabelledExample:
    """One request text and the route it belongs to (None: no route)."""

    text: str
    route: str | None
    lang: str | None = None


def load_examples(path: str | Path) -> list[LabelledExample]:
    """Read JSON Lines with ``text``, ``route`` (string or null) and optional ``lang``.

    Raises:
        InvalidInputError: the file is missing or a line is malformed; the message
            names the line number, never its text.
    """
    source = Path(path)
    if not source.is_file():
        raise InvalidInputError(f"examples file {str(source)!r} not found: check the path")
    examples = []
    try:
        content = source.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = source.read_bytes()[: exc.start].count(b"\n") + 1
        raise InvalidInputError(f"{source}:{bad_line}: the file is not UTF-8; save it as UTF-8") from exc
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{source}:{number}: invalid JSON ({exc.msg}); write one object per line") from exc
        if not isinstance(row, dict):
            raise InvalidInputError(f"{source}:{number}: expected a JSON object with 'text' and 'route'")
        text, route = row.get("text"), row.get("route")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f"{source}:{number}: 'text' must be a non-empty string")
        if route is not None and (not isinstance(route, str) or not route.strip()):
            raise InvalidInputError(f"{source}:{number}: 'route' must be a route name or null for no route")
        lang = row.get("lang")
        examples.append(LabelledExample(text=text, route=route, lang=lang if isinstance(lang, str) else None))
    routes = {example.route for example in examples if example.route is not None}
    if not routes:
        raise InvalidInputError(f"{source}: no example names a route; label examples with 'route'")
    return examples


def split_examples(
    examples: Sequence[LabelledExample], *, test_fraction: float = 0.3, seed: int = 0
) -> tuple[list[LabelledExample], list[LabelledExample]]:
    """Split into train and test, stratified by (route, language), reproducibly for a seed.

    Every stratum with at least two examples puts at least one in each set.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"test_fraction={test_fraction} must be between 0 and 1, for example 0.3")
    strata: dict[tuple[str | None, str | None], list[LabelledExample]] = defaultdict(list)
    for example in examples:
        strata[(example.route, example.lang)].append(example)
    rng = random.Random(seed)
    train: list[LabelledExample] = []
    test: list[LabelledExample] = []
    for key in sorted(strata, key=lambda item: (str(item[0]), str(item[1]))):
        group = list(strata[key])
        rng.shuffle(group)
        count = round(len(group) * test_fraction)
        if len(group) >= 2:
            count = min(max(count, 1), len(group) - 1)
        else:
            count = 0
        test.extend(group[:count])
        train.extend(group[count:])
    return train, test


@dataclass
class FitReport:
    """Fitted thresholds and the accuracy they reach.

    Attributes:
        routes: Route names, in the order of ``thresholds``.
        thresholds: ``distance_threshold`` per route (cosine distance, 0 to 2).
        aggregation: How reference distances were combined.
        train_size, test_size: Examples in each split.
        test_fraction, seed: How the split was drawn.
        train_accuracy: Leave-one-out accuracy on the train set with the fitted thresholds.
        test_accuracy: Accuracy on the test set.
        per_route: Per true route (and ``NO_ROUTE``): support, correct, recall, precision.
        per_language: Test accuracy and support per language.
        confusion: Test counts by true route then predicted route.
        references: Train texts per route, the references the thresholds were fitted for.
    """

    routes: list[str]
    thresholds: dict[str, float]
    aggregation: str
    train_size: int
    test_size: int
    test_fraction: float
    seed: int
    vectorizer: str
    train_accuracy: float
    test_accuracy: float
    per_route: dict[str, dict[str, float]] = field(default_factory=dict)
    per_language: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    references: dict[str, list[str]] = field(default_factory=dict)

    def to_routes(self) -> list[SemanticRouteSettings]:
        """Return route settings with the train references and fitted thresholds."""
        return [
            SemanticRouteSettings(name=name, references=self.references[name], distance_threshold=self.thresholds[name])
            for name in self.routes
        ]

    def summary(self) -> dict[str, Any]:
        """Return the report without the references, for JSON output."""
        return {
            "vectorizer": self.vectorizer,
            "aggregation": self.aggregation,
            "split": {
                "train": self.train_size,
                "test": self.test_size,
                "test_fraction": self.test_fraction,
                "seed": self.seed,
                "stratified_by": ["route", "lang"],
            },
            "thresholds": self.thresholds,
            "train_accuracy_leave_one_out": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "per_route": self.per_route,
            "per_language": self.per_language,
            "confusion": self.confusion,
        }


def fit_routes(
    examples: Sequence[LabelledExample],
    vectorizer: Vectorizer,
    *,
    aggregation: Aggregation = "avg",
    test_fraction: float = 0.3,
    seed: int = 0,
) -> FitReport:
    """Split, fit per-route thresholds on train, and measure accuracy on test.

    Raises:
        InvalidInputError: a route has fewer than ``MIN_EXAMPLES_PER_ROUTE`` examples, or the
            split leaves a route without two train references or without a test example.
    """
    _check_counts(examples)
    train, test = split_examples(examples, test_fraction=test_fraction, seed=seed)
    _check_split(train, test)
    routes = sorted({example.route for example in train if example.route is not None})
    index = {name: position for position, name in enumerate(routes)}
    references = [example for example in train if example.route is not None]
    owners = np.array([index[example.route] for example in references if example.route is not None], dtype=np.int64)

    # Embed once; the train queries see every reference except themselves.
    train_vectors = vectorizer.embed([example.text for example in train])
    reference_rows = [position for position, example in enumerate(train) if example.route is not None]
    reference_vectors = train_vectors[reference_rows]
    train_distances = (1.0 - train_vectors @ reference_vectors.T).astype(np.float64)
    for column, row in enumerate(reference_rows):
        train_distances[row, column] = np.inf
    train_labels = _labels(train, index)

    thresholds = _coordinate_ascent(train_distances, owners, train_labels, len(routes), aggregation)
    train_accuracy = _accuracy(train_distances, owners, train_labels, thresholds, aggregation)

    test_vectors = vectorizer.embed([example.text for example in test]) if test else np.zeros((0, vectorizer.dims))
    test_distances = (1.0 - test_vectors @ reference_vectors.T).astype(np.float64)
    test_labels = _labels(test, index)
    predicted = best_routes(route_distances(test_distances, owners, thresholds, aggregation)) if test else np.array([])

    names = [*routes, NO_ROUTE]

    def name_of(label: int) -> str:
        return names[label] if label >= 0 else NO_ROUTE

    confusion = {true: dict.fromkeys(names, 0) for true in names}
    for true, guess in zip(test_labels, predicted, strict=True):
        confusion[name_of(int(true))][name_of(int(guess))] += 1
    per_route = {}
    for name in names:
        support = sum(confusion[name].values())
        predicted_as = sum(confusion[true][name] for true in names)
        correct = confusion[name][name]
        per_route[name] = {
            "support": support,
            "correct": correct,
            "recall": correct / support if support else 0.0,
            "precision": correct / predicted_as if predicted_as else 0.0,
        }
    per_language: dict[str, dict[str, float]] = {}
    for language in sorted({example.lang or "?" for example in test}):
        rows = [i for i, example in enumerate(test) if (example.lang or "?") == language]
        hits = sum(int(predicted[i] == test_labels[i]) for i in rows)
        per_language[language] = {"support": len(rows), "accuracy": hits / len(rows)}

    return FitReport(
        routes=routes,
        thresholds={name: float(thresholds[position]) for position, name in enumerate(routes)},
        aggregation=aggregation,
        train_size=len(train),
        test_size=len(test),
        test_fraction=test_fraction,
        seed=seed,
        vectorizer=vectorizer.name,
        train_accuracy=train_accuracy,
        test_accuracy=float(np.mean(predicted == test_labels)) if test else 0.0,
        per_route=per_route,
        per_language=per_language,
        confusion=confusion,
        references={name: [e.text for e in references if e.route == name] for name in routes},
    )


def _check_counts(examples: Sequence[LabelledExample]) -> None:
    counts = Counter(example.route for example in examples if example.route is not None)
    if not counts:
        raise InvalidInputError("no example names a route; label examples with 'route'")
    few = {name: count for name, count in sorted(counts.items()) if count < MIN_EXAMPLES_PER_ROUTE}
    if few:
        listed = ", ".join(f"{name!r} has {count}" for name, count in few.items())
        raise InvalidInputError(
            f"too few examples per route: {listed}; each route needs at least {MIN_EXAMPLES_PER_ROUTE} "
            "(two train references, since fitting leaves one out, and one test example): add labelled examples",
            details={"routes": few, "minimum": MIN_EXAMPLES_PER_ROUTE},
        )


def _check_split(train: Sequence[LabelledExample], test: Sequence[LabelledExample]) -> None:
    train_counts = Counter(example.route for example in train if example.route is not None)
    test_counts = Counter(example.route for example in test if example.route is not None)
    short = [
        f"{name!r} ({train_counts[name]} train, {test_counts[name]} test)"
        for name in sorted(set(train_counts) | set(test_counts))
        if train_counts[name] < 2 or test_counts[name] < 1
    ]
    if short:
        raise InvalidInputError(
            f"the split leaves too few examples for route(s) {', '.join(short)}: each route needs two train "
            "and one test example; the split is stratified by route and language, so give each route at least "
            "two examples in one language",
        )


def _labels(examples: Sequence[LabelledExample], index: dict[str, int]) -> npt.NDArray[np.int64]:
    # A test route missing from train can never be predicted; it counts as "no route" expected.
    return np.array([index.get(example.route, -1) if example.route else -1 for example in examples], dtype=np.int64)


def _accuracy(
    distances: npt.NDArray[np.float64],
    owners: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    thresholds: npt.NDArray[np.float64],
    aggregation: Aggregation,
) -> float:
    predicted = best_routes(route_distances(distances, owners, thresholds, aggregation))
    return float(np.mean(predicted == labels))


def _coordinate_ascent(
    distances: npt.NDArray[np.float64],
    owners: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int64],
    route_count: int,
    aggregation: Aggregation,
) -> npt.NDArray[np.float64]:
    """Maximise train accuracy one threshold at a time, starting from the best shared threshold.

    A route's threshold moves only when that raises train accuracy, to the middle of
    the best run of equally accurate values, which leaves the most margin on both
    sides. With ``avg`` or ``sum`` aggregation the routes are coupled (the search
    radius is the largest threshold), so on overlapping data often no single move
    helps and every route keeps the shared value: docs/accuracy.md, Routing.
    """
    shared = [_accuracy(distances, owners, labels, np.full(route_count, value), aggregation) for value in _GRID]
    thresholds = np.full(route_count, _middle_of_best(shared))
    for _ in range(_MAX_PASSES):
        changed = False
        for route in range(route_count):
            scores = []
            for value in _GRID:
                trial = thresholds.copy()
                trial[route] = value
                scores.append(_accuracy(distances, owners, labels, trial, aggregation))
            best = _middle_of_best(scores)
            if best != thresholds[route] and max(scores) > scores[int(np.argmin(np.abs(_GRID - thresholds[route])))]:
                thresholds[route] = best
                changed = True
        if not changed:
            break
    return thresholds


def _middle_of_best(scores: Sequence[float]) -> float:
    top = max(scores)
    best = [position for position, score in enumerate(scores) if score >= top - 1e-12]
    # The longest contiguous run of best values, then its middle.
    runs: list[list[int]] = []
    for position in best:
        if runs and position == runs[-1][-1] + 1:
            runs[-1].append(position)
        else:
            runs.append([position])
    longest = max(runs, key=len)
    return float(_GRID[longest[len(longest) // 2]])
