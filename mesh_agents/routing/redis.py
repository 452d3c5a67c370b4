"""Redis backends of routing: health shared by every process, and semantic routes in a redisvl index.

Health records are Redis hashes updated with optimistic transactions (WATCH/MULTI)
around the same pure transition functions the memory store uses, so both stores
move breakers identically. Calls in flight are members of a sorted set scored by
their expiry, so a process that dies mid-call stops counting as busy after
``in_flight_ttl_s``.

If Redis fails, health fails open: the error is logged and targets count as
healthy, because a broken health store must not stop requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mesh_agents.embeddings import Vectorizer
from mesh_agents.errors import BackendUnavailable, MissingExtraError
from mesh_agents.routing.base import HealthSnapshot
from mesh_agents.routing.health import HealthRecord, acquire, apply_outcome
from mesh_agents.routing.schema import HealthSettings
from mesh_agents.routing.semantic import Aggregation, RouteMatch, SemanticRoute, _check_routes

__all__ = ["RedisHealthStore", "RedisRouteIndex"]

logger = logging.getLogger(__name__)

_KEY_TTL_S = 7 * 24 * 3600
_MAX_WATCH_RETRIES = 20
_LOG_EVERY_S = 60.0


def _redis_module() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise MissingExtraError("redis", "redis") from exc
    return redis


class RedisHealthStore:
    """Target health in Redis, shared by every process that uses the same URL and prefix.

    Args:
        url: Redis URL, such as ``redis://localhost:6379/0``.
        settings: Breaker and EWMA settings; every process should use the same.
        prefix: Key prefix.
    """

    def __init__(self, url: str, settings: HealthSettings | None = None, *, prefix: str = "mesh:routing") -> None:
        redis = _redis_module()
        self.settings = settings or HealthSettings()
        self.prefix = prefix
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self._errors = redis.RedisError
        self._watch_error = redis.WatchError
        self._last_log = 0.0
        self._log_lock = threading.Lock()

    def _health_key(self, target: str) -> str:
        return f"{self.prefix}:health:{target}"

    def _in_flight_key(self, target: str) -> str:
        return f"{self.prefix}:inflight:{target}"

    def snapshot(self, targets: Sequence[str], now: float) -> dict[str, HealthSnapshot]:
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for target in targets:
                    pipe.hgetall(self._health_key(target))
                    pipe.zremrangebyscore(self._in_flight_key(target), "-inf", now)
                    pipe.zcard(self._in_flight_key(target))
                replies = pipe.execute()
        except self._errors as exc:
            self._log_failure("snapshot", exc)
            return {target: HealthSnapshot() for target in targets}
        result = {}
        for position, target in enumerate(targets):
            raw, _, busy = replies[3 * position : 3 * position + 3]
            result[target] = HealthRecord.from_fields(raw).snapshot(now, int(busy))
        return result

    def acquire(self, target: str, attempt_id: str, now: float) -> tuple[bool, bool]:
        key = self._health_key(target)
        try:
            for _ in range(_MAX_WATCH_RETRIES):
                with self._client.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(key)
                        record = HealthRecord.from_fields(pipe.hgetall(key))
                        allowed, is_probe, updated = acquire(record, now, self.settings)
                        pipe.multi()
                        if updated != record:
                            pipe.hset(key, mapping=updated.to_fields())
                            pipe.expire(key, _KEY_TTL_S)
                        if allowed:
                            in_flight = self._in_flight_key(target)
                            pipe.zadd(in_flight, {attempt_id: now + self.settings.in_flight_ttl_s})
                            pipe.expire(in_flight, int(self.settings.in_flight_ttl_s) + 60)
                        pipe.execute()
                        return allowed, is_probe
                    except self._watch_error:
                        continue
        except self._errors as exc:
            self._log_failure("acquire", exc)
            return True, False
        logger.warning("health of target %s changed too often to update; letting the call through", target)
        return True, False

    def record(
        self,
        target: str,
        attempt_id: str,
        *,
        ok: bool,
        latency_s: float,
        counts_against_health: bool,
        is_probe: bool,
        now: float,
    ) -> HealthRecord:
        key = self._health_key(target)
        try:
            for _ in range(_MAX_WATCH_RETRIES):
                with self._client.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(key)
                        record = HealthRecord.from_fields(pipe.hgetall(key))
                        updated = apply_outcome(
                            record,
                            ok=ok,
                            latency_s=latency_s,
                            counts_against_health=counts_against_health,
                            is_probe=is_probe,
                            now=now,
                            settings=self.settings,
                        )
                        pipe.multi()
                        pipe.hset(key, mapping=updated.to_fields())
                        pipe.expire(key, _KEY_TTL_S)
                        pipe.zrem(self._in_flight_key(target), attempt_id)
                        pipe.execute()
                        return updated
                    except self._watch_error:
                        continue
        except self._errors as exc:
            self._log_failure("record", exc)
            return HealthRecord()
        logger.warning("health of target %s changed too often to update; outcome dropped", target)
        return HealthRecord()

    def record_of(self, target: str) -> HealthRecord:
        try:
            return HealthRecord.from_fields(self._client.hgetall(self._health_key(target)))
        except self._errors as exc:
            self._log_failure("read", exc)
            return HealthRecord()

    def _log_failure(self, operation: str, error: BaseException) -> None:
        # One line a minute at most, because every request would otherwise log.
        with self._log_lock:
            now = time.monotonic()
            if now - self._last_log < _LOG_EVERY_S:
                return
            self._last_log = now
        logger.warning(
            "routing health store %s failed (%s); treating targets as healthy", operation, type(error).__name__
        )


class RedisRouteIndex:
    """Semantic routes in a redisvl ``SemanticRouter`` index, shared by every process.

    The index is created on first use. An existing index of the same name is reused
    as it is, so the name must change when the routes do. The router derives it from
    a hash of the routes, the aggregation and the vectorizer.

    Raises:
        BackendUnavailable: Redis cannot be reached or lacks the search module.
    """

    def __init__(
        self,
        routes: Sequence[SemanticRoute],
        vectorizer: Vectorizer,
        url: str,
        *,
        name: str,
        aggregation: Aggregation = "avg",
    ) -> None:
        _check_routes(routes)
        self.routes = list(routes)
        self.vectorizer = vectorizer
        self.url = url
        self.name = name
        self.aggregation = aggregation
        self._router: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._router is not None:
                return self._router
            try:
                from redisvl.extensions.router import Route, SemanticRouter
                from redisvl.utils.vectorize import CustomVectorizer
            except ImportError as exc:
                raise MissingExtraError("redisvl", "redis") from exc
            redis = _redis_module()
            vectorizer = CustomVectorizer(
                embed=lambda text: self.vectorizer.embed([text])[0].tolist(),
                embed_many=lambda texts: self.vectorizer.embed(list(texts)).tolist(),
            )
            routes = [
                Route(name=route.name, references=list(route.references), distance_threshold=route.distance_threshold)
                for route in self.routes
            ]
            try:
                self._router = SemanticRouter(name=self.name, routes=routes, vectorizer=vectorizer, redis_url=self.url)
            except redis.RedisError as exc:
                raise BackendUnavailable(
                    f"semantic route index {self.name!r} unavailable at the configured Redis ({type(exc).__name__}); "
                    "check MESH_REDIS_URL and that Redis has the search module",
                    details={"index": self.name},
                ) from exc
            return self._router

    def match(self, vector: npt.NDArray[np.float32]) -> list[RouteMatch]:
        from redisvl.extensions.router.schema import DistanceAggregationMethod

        router = self._load()
        redis = _redis_module()
        try:
            matches = router.route_many(
                vector=np.asarray(vector, dtype=np.float32).tolist(),
                max_k=len(self.routes),
                aggregation_method=DistanceAggregationMethod(self.aggregation),
            )
        except redis.RedisError as exc:
            raise BackendUnavailable(
                f"semantic route index {self.name!r} query failed ({type(exc).__name__}); check Redis",
                details={"index": self.name},
            ) from exc
        return [RouteMatch(match.name, float(match.distance)) for match in matches if match.name is not None]

    def delete(self) -> None:
        """Drop the index and its stored route config."""
        self._load().delete()
