"""Semantic routes: match the request text to the closest route of example utterances.

Matching follows redisvl's ``SemanticRouter`` so the memory index here and the Redis
index (``routing.redis``) agree on every request:

1. the cosine distance (0 to 2) from the request to every reference is computed;
2. references farther than the largest route threshold are dropped (redisvl runs one
   range query with that radius);
3. each route's remaining distances are aggregated (``min``, ``avg`` or ``sum``);
4. a route matches when its aggregate is strictly below its own ``distance_threshold``;
5. the matching route with the smallest aggregate wins; with none, no route matches.

``route_distances`` implements steps 2 to 4 over a matrix, so calibration
(``routing.calibration``) scores thresholds with the same code that serves requests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from mesh_agents.embeddings import Vectorizer
from mesh_agents.errors import ConfigurationError
from mesh_agents.routing.base import Candidate
from mesh_agents.routing.policies import _prefer, request_facts
from mesh_agents.routing.schema import SemanticRouteSettings
from mesh_agents.types import MeshRequest

__all__ = [
    "Aggregation",
    "MemoryRouteIndex",
    "RouteIndex",
    "RouteMatch",
    "SemanticRoute",
    "SemanticRoutes",
    "best_routes",
    "route_distances",
]

logger = logging.getLogger(__name__)

Aggregation = Literal["avg", "min", "sum"]

SemanticRoute = SemanticRouteSettings
"""A route: name, example utterances, ``distance_threshold`` (cosine distance, 0 to 2), preferred targets."""


@dataclass(frozen=True)
class RouteMatch:
    """A route the request matched and its aggregated cosine distance (0 to 2)."""

    name: str
    distance: float


def route_distances(
    distances: npt.NDArray[np.floating],
    reference_routes: npt.NDArray[np.integer],
    thresholds: npt.NDArray[np.floating],
    aggregation: Aggregation,
) -> npt.NDArray[np.float64]:
    """Aggregate reference distances per route; NaN where a route does not match.

    Args:
        distances: Cosine distances, shape ``(queries, references)``; ``inf`` excludes a
            reference (calibration uses it to leave an example out of its own route).
        reference_routes: Route index of each reference, shape ``(references,)``.
        thresholds: ``distance_threshold`` of each route, shape ``(routes,)``.
        aggregation: How a route's distances within the radius combine.

    Returns:
        Shape ``(queries, routes)``: the aggregate where it is below the route's threshold,
        NaN elsewhere.
    """
    radius = float(np.max(thresholds))
    within = distances <= radius
    result = np.full((distances.shape[0], len(thresholds)), np.nan)
    for route in range(len(thresholds)):
        columns = reference_routes == route
        if not columns.any():
            continue
        values = np.where(within[:, columns], distances[:, columns], np.nan)
        counts = within[:, columns].sum(axis=1)
        with np.errstate(invalid="ignore", all="ignore"):
            if aggregation == "min":
                aggregate = np.nanmin(np.where(counts[:, None] > 0, values, np.inf), axis=1)
            elif aggregation == "avg":
                aggregate = np.nansum(values, axis=1) / np.maximum(counts, 1)
            else:
                aggregate = np.nansum(values, axis=1)
        aggregate = np.where(counts > 0, aggregate, np.nan)
        result[:, route] = np.where(aggregate < thresholds[route], aggregate, np.nan)
    return result


def best_routes(aggregates: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Index of the matching route with the smallest aggregate per query, -1 when none matches."""
    filled = np.where(np.isnan(aggregates), np.inf, aggregates)
    best = np.argmin(filled, axis=1)
    return np.where(np.isfinite(filled[np.arange(len(best)), best]), best, -1).astype(np.int64)


@runtime_checkable
class RouteIndex(Protocol):
    """Store of route references, searched in this process (memory) or in Redis."""

    @property
    def routes(self) -> Sequence[SemanticRoute]:
        """The routes, in the order they were given."""
        ...

    def match(self, vector: npt.NDArray[np.float32]) -> list[RouteMatch]:
        """Return every matching route, closest first."""
        ...


class MemoryRouteIndex:
    """Route references embedded once (on first use) and searched with numpy."""

    def __init__(self, routes: Sequence[SemanticRoute], vectorizer: Vectorizer, *, aggregation: Aggregation = "avg"):
        _check_routes(routes)
        self.routes = list(routes)
        self.vectorizer = vectorizer
        self.aggregation = aggregation
        self._thresholds = np.array([route.distance_threshold for route in self.routes], dtype=np.float64)
        self._matrix: npt.NDArray[np.float32] | None = None
        self._reference_routes: npt.NDArray[np.int64] | None = None
        self._lock = threading.Lock()

    def _references(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        with self._lock:
            if self._matrix is None or self._reference_routes is None:
                texts = [reference for route in self.routes for reference in route.references]
                owners = [index for index, route in enumerate(self.routes) for _ in route.references]
                self._matrix = self.vectorizer.embed(texts)
                self._reference_routes = np.array(owners, dtype=np.int64)
            return self._matrix, self._reference_routes

    def match(self, vector: npt.NDArray[np.float32]) -> list[RouteMatch]:
        matrix, owners = self._references()
        distances = (1.0 - matrix @ vector.astype(np.float32)).astype(np.float64)[None, :]
        aggregates = route_distances(distances, owners, self._thresholds, self.aggregation)[0]
        order = np.argsort(np.where(np.isnan(aggregates), np.inf, aggregates), kind="stable")
        matching = [int(index) for index in order if not np.isnan(aggregates[index])]
        return [RouteMatch(self.routes[index].name, float(aggregates[index])) for index in matching]


class SemanticRoutes:
    """Policy that ranks the matched route's targets first (or keeps only them when ``exclusive``).

    The text matched is the last user message; it is embedded with the index's
    vectorizer and never stored or logged. With no match the policy leaves the
    ranking to the other policies.
    """

    def __init__(
        self, index: RouteIndex, vectorizer: Vectorizer, *, exclusive: bool = False, name: str = "semantic_routes"
    ) -> None:
        self.name = name
        self.index = index
        self.vectorizer = vectorizer
        self.exclusive = exclusive
        self._targets = {route.name: list(route.targets) for route in index.routes}

    def classify(self, text: str) -> RouteMatch | None:
        """Return the closest matching route for ``text``, or None."""
        if not text.strip():
            return None
        vector = self.vectorizer.embed([text])[0]
        matches = self.index.match(vector)
        return matches[0] if matches else None

    def apply(self, candidates: list[Candidate], request: MeshRequest) -> list[Candidate]:
        facts = request_facts(request)
        match = self.classify(facts.text)
        if match is None:
            return candidates
        facts.route, facts.route_distance = match.name, match.distance
        preferred = self._targets.get(match.name) or []
        if preferred:
            _prefer(candidates, preferred, self.name, self.exclusive, f"not a target of route {match.name}")
        return candidates


def _check_routes(routes: Sequence[SemanticRoute]) -> None:
    if not routes:
        raise ConfigurationError("semantic routes are empty: add at least one route with example utterances")
    names = [route.name for route in routes]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"semantic route names must be unique, got {names}")
