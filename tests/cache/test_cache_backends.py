"""One set of behaviour tests, run against the memory backend and a real Redis with search."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage

from mesh_agents.cache import CacheRecord, CacheScope, MemoryCacheBackend, SemanticCache
from mesh_agents.cache.redis import RedisCacheBackend
from mesh_agents.embeddings import default_vectorizer
from mesh_agents.settings import MeshSettings
from mesh_agents.types import CacheControl, MeshRequest, ModelParams

pytestmark = pytest.mark.slow

BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(scope="module")
def vectorizer() -> Any:
    return default_vectorizer()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, vectorizer: Any) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryCacheBackend(max_entries=1000)
    else:
        url = request.getfixturevalue("redis_url")
        yield RedisCacheBackend(url, vectorizer=vectorizer, index_name="test_cache")


def make_cache(backend: Any, vectorizer: Any, **cache: Any) -> SemanticCache:
    settings = MeshSettings(cache={"distance_threshold": 0.3, **cache})
    return SemanticCache(settings, vectorizer=vectorizer, backend=backend)


def ask(text: str, tenant: str = "acme", **fields: Any) -> MeshRequest:
    return MeshRequest(messages=[HumanMessage(text)], tenant=tenant, **fields)


def answer(text: str) -> AIMessage:
    return AIMessage(text, usage_metadata={"input_tokens": 12, "output_tokens": 30, "total_tokens": 42})


def remember(cache: SemanticCache, request: MeshRequest, text: str, **kwargs: Any) -> str | None:
    return cache.store(request, cache.scope_for(request, **kwargs), answer(text), target="small")


def recall(cache: SemanticCache, request: MeshRequest, **kwargs: Any) -> Any:
    return cache.lookup(request, cache.scope_for(request, **kwargs))


def test_exact_match_hits_with_zero_distance(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    entry_id = remember(cache, ask("How do I reset my VPN password?"), "Use the self-service portal.")
    result = recall(cache, ask("  how do I reset my VPN   password? "))
    assert result.hit
    assert result.exact
    assert result.distance == 0.0
    assert result.entry_id == entry_id
    assert result.target == "small"
    assert result.message is not None
    assert result.message.content == "Use the self-service portal."
    assert result.usage == {"input_tokens": 12, "output_tokens": 30, "total_tokens": 42}


def test_paraphrase_hits_semantically(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    remember(cache, ask("How can I reset the password I use for the VPN?"), "Use the portal.")
    result = recall(cache, ask("How do I reset my VPN password?"))
    assert result.hit
    assert not result.exact
    assert result.distance is not None
    assert 0.0 < result.distance <= 0.3
    assert result.threshold == 0.3


def test_scope_parts_each_prevent_a_hit(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer, partition_by_user=True)
    text = "How do I reset my VPN password?"
    remember(cache, ask(text, user="u1"), "Use the portal.", pii_fingerprint="fp1")
    assert recall(cache, ask(text, user="u1"), pii_fingerprint="fp1").hit
    assert not recall(cache, ask(text, tenant="globex", user="u1"), pii_fingerprint="fp1").hit
    assert not recall(cache, ask(text, user="u1", model="large"), pii_fingerprint="fp1").hit
    assert not recall(cache, ask(text, user="u2"), pii_fingerprint="fp1").hit
    assert not recall(cache, ask(text, user="u1"), pii_fingerprint="fp2").hit
    warm = ask(text, user="u1", params=ModelParams(temperature=0.9))
    assert not recall(cache, warm, pii_fingerprint="fp1").hit
    tools = ask(text, user="u1", params=ModelParams(tools=[{"type": "function", "function": {"name": "f"}}]))
    assert not recall(cache, tools, pii_fingerprint="fp1").hit
    system = MeshRequest(messages=[SystemMessage("Answer as a pirate."), HumanMessage(text)], tenant="acme", user="u1")
    assert not recall(cache, system, pii_fingerprint="fp1").hit


def test_other_scope_entries_are_never_candidates(backend: Any, vectorizer: Any) -> None:
    # Fill another tenant's scope with vectors identical to the query: a post-filter
    # after a top-k search would see only those and miss; a pre-filtered search
    # returns this scope's single entry.
    vector = vectorizer.embed(["Where is the invoice?"])[0]
    mine = CacheScope(tenant="acme", model="auto", params_hash="p")
    theirs = CacheScope(tenant="globex", model="auto", params_hash="p")
    for index in range(30):
        backend.put(theirs, _record(f"t{index:02d}", theirs, "Where is the invoice?"), vector)
    backend.put(mine, _record("m00", mine, "Where is my invoice?"), vectorizer.embed(["Where is my invoice?"])[0])
    found = backend.search(mine, vector, 3)
    assert [entry_id for entry_id, _, _ in found] == ["m00"]
    assert backend.get(mine, "t00") is None
    assert backend.count("globex") == 30


def test_distances_match_between_backends(backend: Any, vectorizer: Any) -> None:
    scope = CacheScope(tenant="acme", model="auto", params_hash="p")
    texts = [
        "How do I reset my VPN password?",
        "What is the travel expense limit for dinners?",
        "Convert 100 USD to EUR.",
        "Wie beantrage ich Urlaub?",
    ]
    vectors = vectorizer.embed(texts)
    for index, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        backend.put(scope, _record(f"e{index}", scope, text), vector)
    query = vectorizer.embed(["I forgot my VPN password, how can I reset it?"])[0]
    found = backend.search(scope, query, 4)
    expected = sorted((float(1.0 - vectors[i] @ query), f"e{i}") for i in range(4))
    assert [entry_id for entry_id, _, _ in found] == [entry_id for _, entry_id in expected]
    for (_, distance, _), (want, _) in zip(found, expected, strict=True):
        assert distance == pytest.approx(want, abs=1e-5)


def test_guard_refuses_negated_request(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    remember(cache, ask("Approve the refund for order 48213."), "Refund approved.")
    result = recall(cache, ask("Deny the refund for order 48213."))
    assert not result.hit
    assert result.refused_by == "negation"
    assert result.distance is not None


def test_guard_refuses_changed_number(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    remember(cache, ask("Show the status of invoice 48213."), "Paid.")
    result = recall(cache, ask("Show the status of invoice 48231."))
    assert not result.hit
    assert result.refused_by == "number"


def test_guard_refuses_swapped_direction(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    remember(cache, ask("Convert 100 USD to EUR."), "92 EUR.")
    result = recall(cache, ask("Convert 100 EUR to USD."))
    assert not result.hit
    assert result.refused_by == "direction"


def test_refused_nearest_falls_back_to_next_candidate(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    remember(cache, ask("Approve the refund for order 48213."), "Approved.")
    remember(cache, ask("Deny the refund for order 48213, please."), "Denied.")
    result = recall(cache, ask("Deny the refund for order 48213."))
    assert result.hit
    assert result.message is not None
    assert result.message.content == "Denied."


def test_invalidate_by_tag_entry_and_tenant(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    first = remember(cache, ask("What is the VAT rate in Ireland?", tags=["tax"]), "23%.")
    remember(cache, ask("What is the VAT rate in Spain?", tags=["tax", "es"]), "21%.")
    remember(cache, ask("Who approves travel?"), "Your manager.")
    other = remember(cache, ask("Who approves travel?", tenant="globex", tags=["tax"]), "HR.")
    assert cache.invalidate(tenant="acme", tag="es") == 1
    assert cache.invalidate(tenant="acme", entry_id=other) == 0
    assert cache.invalidate(tenant="acme", entry_id=first) == 1
    assert not recall(cache, ask("What is the VAT rate in Ireland?")).hit
    assert recall(cache, ask("Who approves travel?")).hit
    assert cache.invalidate(tenant="acme") == 1
    assert not recall(cache, ask("Who approves travel?")).hit
    assert recall(cache, ask("Who approves travel?", tenant="globex")).hit


def test_no_cache_neither_reads_nor_writes(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    request = ask("Who approves travel?", cache_control=CacheControl.NO_CACHE)
    assert remember(cache, request, "Your manager.") is None
    remember(cache, ask("Who approves travel?"), "Your manager.")
    result = recall(cache, request)
    assert not result.hit
    assert result.skipped == "no-cache"


def test_force_refresh_skips_lookup_and_replaces_answer(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    first = remember(cache, ask("Who approves travel?"), "Your manager.")
    refresh = ask("Who approves travel?", cache_control=CacheControl.FORCE_REFRESH)
    assert recall(cache, refresh).skipped == "force-refresh"
    assert remember(cache, refresh, "The travel desk.") == first
    result = recall(cache, ask("Who approves travel?"))
    assert result.message is not None
    assert result.message.content == "The travel desk."
    assert backend.count("acme") == 1


def test_streamed_answer_is_stored_whole(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    request = ask("Who approves travel?")
    chunks = [AIMessageChunk("Your "), AIMessageChunk("manager."), AIMessageChunk("", usage_metadata=_usage())]
    whole = chunks[0] + chunks[1] + chunks[2]
    cache.store(request, cache.scope_for(request), whole, target="small")
    result = recall(cache, request)
    assert result.message is not None
    assert type(result.message) is AIMessage
    assert result.message.content == "Your manager."
    assert result.usage["output_tokens"] == 30


def test_truncated_answer_is_not_stored(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    request = ask("Who approves travel?")
    cut = AIMessage("Your", response_metadata={"finish_reason": "length"})
    assert cache.store(request, cache.scope_for(request), cut, target="small") is None


def test_disabled_tenant_skips_cache(backend: Any, vectorizer: Any) -> None:
    settings = MeshSettings(tenants={"acme": {"cache": {"enabled": False}}, "globex": {}})
    cache = SemanticCache(settings, vectorizer=vectorizer, backend=backend)
    assert remember(cache, ask("Who approves travel?"), "Your manager.") is None
    assert recall(cache, ask("Who approves travel?")).skipped == "disabled"


def test_text_forms_round_trip(backend: Any, vectorizer: Any) -> None:
    cache = make_cache(backend, vectorizer)
    entry_id = cache.store_text(
        "Who approves travel?", "Your manager.", tenant="acme", model="small", usage=_usage(), tags=["hr"]
    )
    assert entry_id is not None
    hit = cache.lookup_text("who approves travel?", tenant="acme", model="small")
    assert hit.hit
    assert hit.usage["total_tokens"] == 42
    assert not cache.lookup_text("who approves travel?", tenant="acme", model="large").hit
    assert not cache.lookup_text("who approves travel?", tenant="acme", model="small", system="Be brief.").hit
    assert cache.invalidate(tenant="acme", tag="hr") == 1


def _usage() -> Any:
    return {"input_tokens": 12, "output_tokens": 30, "total_tokens": 42}


def _record(entry_id: str, scope: CacheScope, prompt: str) -> CacheRecord:
    return CacheRecord(
        entry_id=entry_id,
        tenant=scope.tenant,
        scope_digest=scope.digest(),
        prompt=prompt,
        message={"type": "ai", "data": {"content": prompt.upper(), "type": "ai"}},
    )


def test_redis_entries_expire_with_ttl(redis_url: str, vectorizer: Any) -> None:
    import redis

    backend = RedisCacheBackend(redis_url, vectorizer=vectorizer, index_name="ttl_cache")
    cache = SemanticCache(MeshSettings(cache={"ttl_s": 120}), vectorizer=vectorizer, backend=backend)
    entry_id = remember(cache, ask("Who approves travel?"), "Your manager.")
    client = redis.Redis.from_url(redis_url)
    ttl = client.ttl(f"ttl_cache:{entry_id}")
    client.close()
    assert 0 < ttl <= 120


def test_memory_entries_expire_with_ttl(vectorizer: Any) -> None:
    now = [1000.0]
    backend = MemoryCacheBackend(clock=lambda: now[0])
    cache = SemanticCache(MeshSettings(cache={"ttl_s": 60}), vectorizer=vectorizer, backend=backend)
    scope = CacheScope(tenant="acme", model="auto", params_hash="p")
    record = _record("e1", scope, "Who approves travel?")
    record.expires_at = 1060.0
    backend.put(scope, record, np.asarray(vectorizer.embed(["Who approves travel?"])[0]))
    assert backend.get(scope, "e1") is not None
    now[0] = 1060.0
    assert backend.get(scope, "e1") is None
    assert backend.search(scope, vectorizer.embed(["Who approves travel?"])[0], 3) == []
    assert cache.backend.count() == 0


def test_memory_evicts_least_recently_used(vectorizer: Any) -> None:
    backend = MemoryCacheBackend(max_entries=2)
    scope = CacheScope(tenant="acme", model="auto", params_hash="p")
    vector = vectorizer.embed(["x"])[0]
    for entry_id in ("a", "b"):
        backend.put(scope, _record(entry_id, scope, entry_id), vector)
    assert backend.get(scope, "a") is not None
    backend.put(scope, _record("c", scope, "c"), vector)
    assert backend.get(scope, "b") is None
    assert backend.get(scope, "a") is not None
    assert backend.count() == 2
