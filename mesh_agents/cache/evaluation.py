"""Measure the cache on labelled request pairs and on a request stream, and calibrate its threshold.

Pairs file (JSON lines): ``{"id", "a", "b", "label": "same" | "different", "kind"}``.
A pair is a hit when a cache holding ``a`` serves its answer for ``b``.

Stream file (JSON lines, in order): ``{"seq", "intent", "text", "tenant"}``. Each
request is looked up, and stored on a miss, in one cache; a hit is wrong when the
served entry was stored for another intent, and a leak when it was stored for
another tenant.

Both run through ``SemanticCache`` itself on the memory backend, so they measure the
same code path as production lookups: exact match, scope, guards and threshold.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage

from mesh_agents._jsonl import read_json_lines
from mesh_agents.cache.memory import MemoryCacheBackend
from mesh_agents.cache.semantic import SemanticCache
from mesh_agents.embeddings import Vectorizer
from mesh_agents.errors import InvalidInputError

if TYPE_CHECKING:
    from mesh_agents.settings import MeshSettings

__all__ = [
    "CalibrationRow",
    "PairOutcome",
    "PairScores",
    "StreamScores",
    "calibrate",
    "calibration_table",
    "load_pairs",
    "load_stream",
    "measure_pairs",
    "run_stream",
    "score_pairs",
]


@dataclass(frozen=True)
class PairOutcome:
    """The outcome of one pair, independent of the threshold.

    Attributes:
        kind: The pair's kind, such as ``paraphrase`` or ``negation``.
        same: Whether the label is ``same``.
        distance: Cosine distance (0 to 2) between the two prompts; 0 for an exact match.
        refused_by: The guard that refused the hit, or None when every guard passed.
    """

    kind: str
    same: bool
    distance: float
    refused_by: str | None

    def hit_at(self, threshold: float) -> bool:
        return self.refused_by is None and self.distance <= threshold


@dataclass
class PairScores:
    """Precision, recall and F1 over pairs at one threshold, with hits per kind."""

    threshold: float
    precision: float
    recall: float
    f1: float
    hits: int
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "by_kind": self.by_kind}


@dataclass
class StreamScores:
    """Hit counts over a request stream.

    Attributes:
        requests: Requests in the stream.
        hits: Requests served from the cache.
        wrong_hits: Hits whose entry was stored for another intent of the same tenant.
        cross_tenant_hits: Hits whose entry was stored for another tenant.
        ceiling: Requests whose tenant and intent occurred earlier: the most a correct cache can serve.
        exact_text: Requests whose tenant and exact text occurred earlier: what an exact-match cache serves.
        refused_by: How often each guard refused the nearest candidate within the threshold.
    """

    requests: int
    hits: int
    wrong_hits: int
    cross_tenant_hits: int
    ceiling: int
    exact_text: int
    refused_by: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "hits": self.hits,
            "wrong_hits": self.wrong_hits,
            "cross_tenant_hits": self.cross_tenant_hits,
        }


@dataclass(frozen=True)
class CalibrationRow:
    """Pair scores at one candidate threshold."""

    threshold: float
    precision: float
    recall: float
    hit_rate: float
    hits: int


def _read_jsonl(path: Path, required: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, row in read_json_lines(path, kind="data file", hint=f"with the fields {list(required)}"):
        if not isinstance(row, dict):
            raise InvalidInputError(f"{path}:{number}: expected a JSON object with the fields {list(required)}")
        missing = [name for name in required if name not in row]
        if missing:
            raise InvalidInputError(f"{path}:{number}: missing fields {missing}: each line needs {list(required)}")
        rows.append(row)
    return rows


def load_pairs(path: str | Path) -> list[dict[str, Any]]:
    """Read a pairs file; raise InvalidInputError naming the line of a malformed entry."""
    rows = _read_jsonl(Path(path), ("a", "b", "label", "kind"))
    for row in rows:
        if row["label"] not in ("same", "different"):
            raise InvalidInputError(
                f"{path}: pair {row.get('id', '?')!r} has label {row['label']!r}: use 'same' or 'different'"
            )
    return rows


def load_stream(path: str | Path) -> list[dict[str, Any]]:
    """Read a stream file; raise InvalidInputError naming the line of a malformed entry."""
    return _read_jsonl(Path(path), ("intent", "text", "tenant"))


def _evaluation_cache(settings: MeshSettings, vectorizer: Vectorizer, **cache: Any) -> SemanticCache:
    # The evaluation's own tenants ("eval", the stream's t1 to t3) use the mesh-wide cache
    # policy, so a tenant list in the user's config must not reject them.
    patched = settings.model_copy(
        update={"cache": settings.cache.model_copy(update=cache), "redis_url": None, "tenants": {}}
    )
    return SemanticCache(patched, vectorizer=vectorizer, backend=MemoryCacheBackend(max_entries=1_000_000))


def measure_pairs(pairs: Sequence[dict[str, Any]], settings: MeshSettings, vectorizer: Vectorizer) -> list[PairOutcome]:
    """Store each pair's ``a`` in an empty cache, look up ``b``, and record the distance and the guards' verdict."""
    # One batch embeds every prompt; the vectorizer's cache serves the lookups below.
    vectorizer.embed([text for pair in pairs for text in (pair["a"], pair["b"])])
    outcomes: list[PairOutcome] = []
    for pair in pairs:
        # With the threshold at its maximum, only the guards decide, so the outcome holds for every threshold.
        cache = _evaluation_cache(settings, vectorizer, distance_threshold=2.0, verifier_distance_threshold=None)
        cache.store_text(pair["a"], "answer", tenant="eval")
        result = cache.lookup_text(pair["b"], tenant="eval")
        distance = result.distance if result.distance is not None else 2.0
        refused = None if result.hit else (result.refused_by or "threshold")
        outcomes.append(PairOutcome(pair["kind"], pair["label"] == "same", distance, refused))
    return outcomes


def score_pairs(outcomes: Sequence[PairOutcome], threshold: float) -> PairScores:
    """Return precision, recall, F1 and hits per kind at ``threshold``."""
    true_hits = sum(1 for o in outcomes if o.same and o.hit_at(threshold))
    hits = sum(1 for o in outcomes if o.hit_at(threshold))
    positives = sum(1 for o in outcomes if o.same)
    precision = true_hits / hits if hits else 1.0
    recall = true_hits / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    by_kind: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        counts = by_kind.setdefault(outcome.kind, {"n": 0, "hits": 0})
        counts["n"] += 1
        counts["hits"] += int(outcome.hit_at(threshold))
    return PairScores(
        threshold=threshold,
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        hits=hits,
        by_kind=dict(sorted(by_kind.items())),
    )


def calibration_table(outcomes: Sequence[PairOutcome]) -> list[CalibrationRow]:
    """Score every threshold at which the set of hits changes, smallest first."""
    positives = sum(1 for o in outcomes if o.same) or 1
    eligible = sorted((o.distance, o.same) for o in outcomes if o.refused_by is None)
    rows: list[CalibrationRow] = []
    true_hits = 0
    for index, (distance, same) in enumerate(eligible):
        true_hits += int(same)
        if index + 1 < len(eligible) and eligible[index + 1][0] == distance:
            continue
        hits = index + 1
        rows.append(
            CalibrationRow(
                threshold=distance,
                precision=true_hits / hits,
                recall=true_hits / positives,
                hit_rate=hits / len(outcomes),
                hits=hits,
            )
        )
    return rows


def _negative_rate(outcomes: Sequence[PairOutcome], threshold: float) -> float:
    """Return the highest share of pairs served as hits among the kinds labelled ``different``."""
    totals: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for outcome in outcomes:
        if not outcome.same:
            totals[outcome.kind] += 1
            hits[outcome.kind] += int(outcome.hit_at(threshold))
    return max((hits[kind] / totals[kind] for kind in totals), default=0.0)


def calibrate(
    outcomes: Sequence[PairOutcome], target_precision: float, *, max_negative_rate: float | None = None
) -> tuple[float, list[CalibrationRow]]:
    """Pick the threshold with the most hits whose precision meets ``target_precision``.

    With ``max_negative_rate``, every kind labelled ``different`` must also stay at or
    below that share of its pairs served as hits. The threshold is placed halfway
    between the farthest accepted pair and the next distance, so a float rounding
    difference between backends cannot flip a pair.

    Raises:
        InvalidInputError: no threshold reaches the targets on these pairs.
    """
    rows = calibration_table(outcomes)
    meeting = [
        row
        for row in rows
        if row.precision >= target_precision
        and (max_negative_rate is None or _negative_rate(outcomes, row.threshold) <= max_negative_rate)
    ]
    if not meeting:
        raise InvalidInputError(
            f"no threshold reaches precision {target_precision} on these pairs: lower --target-precision"
            + ("" if max_negative_rate is None else " or raise --max-negative-rate")
        )
    best = max(meeting, key=lambda row: (row.hits, -row.threshold))
    farther = [row.threshold for row in rows if row.threshold > best.threshold]
    threshold = (best.threshold + farther[0]) / 2 if farther else best.threshold
    # Round down, so rounding never admits the next pair.
    return min(2.0, math.floor(threshold * 10_000) / 10_000), rows


def run_stream(stream: Iterable[dict[str, Any]], settings: MeshSettings, vectorizer: Vectorizer) -> StreamScores:
    """Play the stream through one cache: look up each request, store it on a miss, score every hit."""
    requests = list(stream)
    vectorizer.embed(sorted({row["text"] for row in requests}))
    cache = _evaluation_cache(settings, vectorizer)
    owners: dict[str, tuple[str, str]] = {}
    seen_intents: set[tuple[str, str]] = set()
    seen_texts: set[tuple[str, str]] = set()
    scores = StreamScores(requests=len(requests), hits=0, wrong_hits=0, cross_tenant_hits=0, ceiling=0, exact_text=0)
    refusals: Counter[str] = Counter()
    for row in requests:
        tenant, intent, text = str(row["tenant"]), str(row["intent"]), str(row["text"])
        scores.ceiling += int((tenant, intent) in seen_intents)
        scores.exact_text += int((tenant, text) in seen_texts)
        seen_intents.add((tenant, intent))
        seen_texts.add((tenant, text))

        result = cache.lookup_text(text, tenant=tenant)
        if result.refused_by:
            refusals[result.refused_by] += 1
        if result.hit and result.entry_id is not None:
            scores.hits += 1
            owner_tenant, owner_intent = owners[result.entry_id]
            if owner_tenant != tenant:
                scores.cross_tenant_hits += 1
            elif owner_intent != intent:
                scores.wrong_hits += 1
            continue
        entry_id = cache.store_text(text, AIMessage(intent), tenant=tenant)
        if entry_id is not None:
            owners[entry_id] = (tenant, intent)
    scores.refused_by = dict(refusals.most_common())
    return scores
