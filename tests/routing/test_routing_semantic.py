"""Semantic routes with the real embedding model: memory and Redis indexes, one semantics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from routing_support import fake_model, mesh_settings, request

from mesh_agents.embeddings import default_vectorizer
from mesh_agents.routing import MemoryRouteIndex, Router, SemanticRoute
from mesh_agents.routing.calibration import load_examples
from mesh_agents.routing.health import MemoryHealthStore
from mesh_agents.routing.semantic import route_distances

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data" / "routing_examples.jsonl"

ROUTES = [
    SemanticRoute(
        name="billing",
        references=[
            "Why was I charged twice this month?",
            "Please resend the invoice for March.",
            "How do I update the credit card on our account?",
        ],
        distance_threshold=0.6,
        targets=["cheap"],
    ),
    SemanticRoute(
        name="code",
        references=[
            "Write a Python function that calls the REST API.",
            "Why does my script raise a KeyError?",
            "Convert this curl command to TypeScript.",
        ],
        distance_threshold=0.6,
        targets=["coder", "cheap"],
    ),
]


def _router(**kwargs: object) -> Router:
    targets = {"general": fake_model(), "cheap": fake_model(), "coder": fake_model()}
    return Router(mesh_settings(**kwargs), targets=targets, routes=ROUTES, vectorizer=default_vectorizer())


def test_matched_route_puts_its_targets_first() -> None:
    decision = _router().route(request("We were billed two times for the same subscription."))
    assert decision.route == "billing"
    assert decision.ranked == ["cheap", "general", "coder"]
    assert 0.0 < decision.explanation["route_distance"] < 0.6
    code = _router().route(request("My Python script fails with KeyError: 'items' when parsing JSON."))
    assert code.route == "code"
    assert code.ranked[:2] == ["coder", "cheap"]


def test_unrelated_request_matches_no_route() -> None:
    decision = _router().route(request("Recommend a restaurant for our team dinner in Lisbon."))
    assert decision.route is None
    assert decision.explanation["route_distance"] is None
    assert decision.ranked == ["general", "cheap", "coder"]


def test_threshold_below_distance_blocks_the_match() -> None:
    strict = [route.model_copy(update={"distance_threshold": 0.05}) for route in ROUTES]
    router = Router(mesh_settings(), targets={"general": fake_model(), "cheap": fake_model()}, routes=strict)
    assert router.route(request("We were billed two times for the same subscription.")).route is None


def test_route_distances_follow_redisvl_semantics() -> None:
    # Thresholds 0.3 and 0.5 make the range-query radius 0.5, so avg only includes references within it:
    # route 0 averages 0.1 and 0.45 (0.275 < 0.3, a match) although all three average 0.483.
    distances = np.array([[0.1, 0.45, 0.9, 0.2, 0.6]])
    owners = np.array([0, 0, 0, 1, 1])
    thresholds = np.array([0.3, 0.5])
    avg = route_distances(distances, owners, thresholds, "avg")[0]
    assert avg.tolist() == pytest.approx([0.275, 0.2])
    stricter = route_distances(distances, owners, np.array([0.25, 0.5]), "avg")[0]
    assert np.isnan(stricter[0])
    minimum = route_distances(distances, owners, thresholds, "min")[0]
    assert minimum.tolist() == pytest.approx([0.1, 0.2])


@pytest.mark.redis
def test_redis_index_agrees_with_memory_index(redis_url: str) -> None:
    from mesh_agents.routing.redis import RedisRouteIndex

    vectorizer = default_vectorizer()
    texts = [example.text for example in load_examples(EXAMPLES)]
    vectors = vectorizer.embed(texts)
    for aggregation in ("avg", "min"):
        memory = MemoryRouteIndex(ROUTES, vectorizer, aggregation=aggregation)
        redis = RedisRouteIndex(ROUTES, vectorizer, redis_url, name=f"parity-{aggregation}", aggregation=aggregation)
        matched = 0
        for vector in vectors:
            expected = memory.match(vector)
            got = redis.match(vector)
            assert [m.name for m in got] == [m.name for m in expected]
            for left, right in zip(got, expected, strict=True):
                assert left.distance == pytest.approx(right.distance, abs=1e-4)
            matched += bool(expected)
        assert 0 < matched < len(texts)


@pytest.mark.redis
def test_router_with_redis_url_uses_redis_backends(redis_url: str) -> None:
    from mesh_agents.routing.redis import RedisHealthStore, RedisRouteIndex

    router = _router(redis_url=redis_url)
    assert isinstance(router.health, RedisHealthStore)
    decision = router.route(request("Please resend last month's invoice to our finance team."))
    assert decision.route == "billing"
    index = next(iter(router._indexes.values()))
    assert isinstance(index, RedisRouteIndex)

    # A second router (another process in production) reuses the same index by name.
    other = _router(redis_url=redis_url)
    assert other.route(request("Please resend last month's invoice to our finance team.")).route == "billing"
    assert not isinstance(router.health, MemoryHealthStore)
