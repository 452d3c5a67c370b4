"""Redis cache backend through redisvl's ``SemanticCache`` index, shared by many processes.

Layout: one search index (``CacheSettings.redis_index``) over hashes whose key is
``<index>:<entry id>``. The entry id hashes the scope with the prompt, and every read
names its scope. ``get`` reads one key derived from the scope. ``search`` is a KNN
query whose pre-filter ``@scope:{<scope digest>}`` is evaluated inside the index
before the nearest neighbours are chosen. An entry of another scope is therefore never
a candidate, not merely dropped afterwards.

Distances: the index is redisvl's FLAT COSINE vector field, so RediSearch returns
``1 - cos``, the cosine distance from 0 to 2 that the memory backend computes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mesh_agents._urls import safe_url
from mesh_agents.cache.base import CacheRecord, CacheScope
from mesh_agents.embeddings import Vectorizer
from mesh_agents.errors import BackendUnavailable, MissingExtraError

if TYPE_CHECKING:
    from redisvl.extensions.cache.llm import SemanticCache as RedisVLSemanticCache

__all__ = ["RedisCacheBackend"]

logger = logging.getLogger(__name__)

_FIELDS = ["entry_id", "prompt", "response", "inserted_at", "metadata", "scope", "tenant", "tags"]
# How many keys one invalidation query fetches before deleting them.
_DELETE_BATCH = 500


class RedisCacheBackend:
    """Entries in Redis (8.x, or Redis Stack) with the search module.

    Args:
        redis_url: Redis URL, such as ``redis://localhost:6379/0``.
        vectorizer: The embedding model whose vectors are stored. redisvl's
            ``CustomVectorizer`` wraps it so that the index gets its dimensions. The
            vectors themselves are computed by the caller, in batches.
        index_name: Name of the search index and prefix of its keys.
        ttl_s: Default entry lifetime in seconds, set as the Redis key expiry.

    The index is created on first use, so constructing the backend opens no
    connection. ``max_entries`` is not enforced here: bound Redis memory with its
    own ``maxmemory`` and an eviction policy such as ``volatile-lru``.
    """

    def __init__(self, redis_url: str, *, vectorizer: Vectorizer, index_name: str = "mesh_cache") -> None:
        self.redis_url = redis_url
        self.index_name = index_name
        self._vectorizer = vectorizer
        self._cache: RedisVLSemanticCache | None = None
        self._lock = threading.Lock()

    # Connection and index.

    def _semantic_cache(self) -> RedisVLSemanticCache:
        with self._lock:
            if self._cache is None:
                self._cache = self._open()
            return self._cache

    def _open(self) -> RedisVLSemanticCache:
        try:
            from redis.exceptions import RedisError
            from redisvl.extensions.cache.llm import SemanticCache as RedisVLSemanticCache
            from redisvl.utils.vectorize import CustomVectorizer
        except ImportError as exc:
            raise MissingExtraError("redisvl", "redis") from exc

        vectorizer = self._vectorizer

        def embed(text: str) -> list[float]:
            return [float(x) for x in vectorizer.embed([text])[0]]

        def embed_many(texts: list[str]) -> list[list[float]]:
            return [[float(x) for x in row] for row in vectorizer.embed(texts)]

        try:
            return RedisVLSemanticCache(
                name=self.index_name,
                vectorizer=CustomVectorizer(embed=embed, embed_many=embed_many),
                redis_url=self.redis_url,
                filterable_fields=[
                    {"name": "scope", "type": "tag"},
                    {"name": "tenant", "type": "tag"},
                    {"name": "tags", "type": "tag", "attrs": {"separator": ","}},
                ],
            )
        except RedisError as exc:
            raise BackendUnavailable(
                f"Redis at {safe_url(self.redis_url)} is unreachable or lacks the search module: "
                "check MESH_REDIS_URL and that the server is Redis 8 or Redis Stack",
                details={"backend": "redis"},
            ) from exc

    def _key(self, entry_id: str) -> str:
        return f"{self.index_name}:{entry_id}"

    @staticmethod
    def _fields(scope: CacheScope, record: CacheRecord, vector: npt.NDArray[np.float32]) -> dict[str, Any]:
        return {
            "entry_id": record.entry_id,
            "prompt": record.prompt,
            "response": json.dumps(record.message),
            "prompt_vector": np.asarray(vector, dtype=np.float32).tobytes(),
            "inserted_at": record.created_at,
            "updated_at": record.created_at,
            "metadata": json.dumps({"target": record.target, "expires_at": record.expires_at}),
            "scope": scope.digest(),
            "tenant": scope.tenant,
            "tags": ",".join(record.tags),
        }

    # The CacheBackend protocol.

    def get(self, scope: CacheScope, entry_id: str) -> CacheRecord | None:
        cache = self._semantic_cache()
        with _translate_errors(self.redis_url):
            raw = cache.index.client.hgetall(self._key(entry_id))
        if not raw:
            return None
        fields = {_text(k): v for k, v in raw.items()}
        if _text(fields.get("scope", b"")) != scope.digest() or _text(fields.get("tenant", b"")) != scope.tenant:
            return None
        return _record(entry_id, {k: _text(v) for k, v in fields.items() if k != "prompt_vector"})

    def search(
        self, scope: CacheScope, vector: npt.NDArray[np.float32], k: int
    ) -> list[tuple[str, float, CacheRecord]]:
        from redisvl.query import VectorQuery
        from redisvl.query.filter import Tag

        cache = self._semantic_cache()
        query = VectorQuery(
            vector=np.asarray(vector, dtype=np.float32).tobytes(),
            vector_field_name="prompt_vector",
            return_fields=_FIELDS,
            filter_expression=Tag("scope") == scope.digest(),
            num_results=k,
            return_score=True,
            dtype="float32",
        )
        with _translate_errors(self.redis_url):
            rows = cache.index.query(query)
        found: list[tuple[str, float, CacheRecord]] = []
        for row in rows:
            # The filter already confines the search to this scope; the tenant check
            # below guards against a scope digest collision.
            if row.get("tenant") != scope.tenant or row.get("scope") != scope.digest():
                continue
            record = _record(str(row["entry_id"]), row)
            found.append((record.entry_id, float(row["vector_distance"]), record))
        return found

    def put(self, scope: CacheScope, record: CacheRecord, vector: npt.NDArray[np.float32]) -> str:
        cache = self._semantic_cache()
        ttl = None if record.expires_at is None else max(1, round(record.expires_at - time.time()))
        data = self._fields(scope, record, vector)
        key = self._key(record.entry_id)
        with _translate_errors(self.redis_url):
            # Remove the old hash first so a replaced entry loses its old expiry and fields.
            cache.index.client.delete(key)
            cache.index.load([data], keys=[key], ttl=ttl)
        return record.entry_id

    def put_many(
        self, scope: CacheScope, records: Sequence[CacheRecord], vectors: npt.NDArray[np.float32], *, batch: int = 1000
    ) -> int:
        """Store many entries of one scope in pipelined batches, for warm-up and benchmarks; return the count."""
        cache = self._semantic_cache()
        client = cache.index.client
        now = time.time()
        with _translate_errors(self.redis_url):
            for start in range(0, len(records), batch):
                pipe = client.pipeline(transaction=False)
                for record, vector in zip(records[start : start + batch], vectors[start : start + batch], strict=True):
                    key = self._key(record.entry_id)
                    pipe.delete(key)
                    pipe.hset(key, mapping=self._fields(scope, record, vector))
                    if record.expires_at is not None:
                        pipe.expire(key, max(1, round(record.expires_at - now)))
                pipe.execute()
        return len(records)

    def delete(self, *, tenant: str, tag: str | None = None, entry_id: str | None = None) -> int:
        from redisvl.query import FilterQuery
        from redisvl.query.filter import Tag

        cache = self._semantic_cache()
        client = cache.index.client
        if entry_id is not None:
            key = self._key(entry_id)
            with _translate_errors(self.redis_url):
                owner = client.hget(key, "tenant")
                tags = _text(client.hget(key, "tags") or b"").split(",")
                if owner is None or _text(owner) != tenant or (tag is not None and tag not in tags):
                    return 0
                return int(client.delete(key))
        condition = Tag("tenant") == tenant
        if tag is not None:
            condition = condition & (Tag("tags") == tag)
        deleted = 0
        with _translate_errors(self.redis_url):
            while True:
                rows = cache.index.query(FilterQuery(condition, return_fields=["entry_id"], num_results=_DELETE_BATCH))
                if not rows:
                    return deleted
                deleted += int(client.delete(*[row["id"] for row in rows]))

    def count(self, tenant: str | None = None) -> int:
        from redisvl.query import CountQuery
        from redisvl.query.filter import FilterExpression, Tag

        cache = self._semantic_cache()
        condition = Tag("tenant") == tenant if tenant is not None else FilterExpression("*")
        with _translate_errors(self.redis_url):
            return int(cache.index.query(CountQuery(condition)))

    def clear(self) -> None:
        """Delete every entry of the index, all tenants."""
        with _translate_errors(self.redis_url):
            self._semantic_cache().clear()


def _record(entry_id: str, fields: dict[str, Any]) -> CacheRecord:
    metadata = json.loads(fields.get("metadata") or "{}")
    tags = tuple(tag for tag in str(fields.get("tags", "")).split(",") if tag)
    return CacheRecord(
        entry_id=entry_id,
        tenant=str(fields.get("tenant", "")),
        scope_digest=str(fields.get("scope", "")),
        prompt=str(fields.get("prompt", "")),
        message=json.loads(fields["response"]),
        target=metadata.get("target"),
        tags=tags,
        created_at=float(fields.get("inserted_at", 0.0)),
        expires_at=metadata.get("expires_at"),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    """Turn a Redis connection or server error into ``BackendUnavailable``."""
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as exc:
        raise BackendUnavailable(
            f"the cache's Redis at {safe_url(url)} failed ({type(exc).__name__}): "
            "check that the server is up and MESH_REDIS_URL is right",
            details={"backend": "redis"},
        ) from exc
