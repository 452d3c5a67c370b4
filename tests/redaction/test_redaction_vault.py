"""Vaults: memory and Redis keep stable placeholders per tenant and session, with a TTL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mesh_agents.errors import BackendUnavailable
from mesh_agents.redaction import MemoryVault, Redactor
from mesh_agents.redaction.base import Vault
from mesh_agents.redaction.redis import RedisVault
from mesh_agents.settings import MeshSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def vault(request: pytest.FixtureRequest) -> Iterator[Vault]:
    if request.param == "memory":
        yield MemoryVault(ttl_s=60)
    else:
        yield RedisVault(request.getfixturevalue("redis_url"), ttl_s=60)


def test_vault_same_value_same_placeholder(vault: Vault) -> None:
    first = vault.placeholder_for("acme", "s1", "email", "a@example.com")
    assert first == "<EMAIL_1>"
    assert vault.placeholder_for("acme", "s1", "email", "a@example.com") == first
    assert vault.placeholder_for("acme", "s1", "email", "b@example.com") == "<EMAIL_2>"
    assert vault.placeholder_for("acme", "s1", "ip_address", "a@example.com") == "<IP_ADDRESS_1>"
    assert vault.value_for("acme", "s1", "<EMAIL_2>") == "b@example.com"


def test_vault_batch_calls(vault: Vault) -> None:
    items = [("person", "Anna"), ("person", "Jan"), ("person", "Anna")]
    assert vault.placeholders_for("acme", "s1", items) == ["<PERSON_1>", "<PERSON_2>", "<PERSON_1>"]
    assert vault.values_for("acme", "s1", ["<PERSON_2>", "<PERSON_9>", "<PERSON_1>"]) == {
        "<PERSON_2>": "Jan",
        "<PERSON_1>": "Anna",
    }


def test_vault_scopes_tenant_and_session(vault: Vault) -> None:
    vault.placeholder_for("acme", "s1", "email", "a@example.com")
    assert vault.value_for("acme", "s2", "<EMAIL_1>") is None
    assert vault.value_for("globex", "s1", "<EMAIL_1>") is None
    # A colon in an id cannot make two scopes share a key.
    vault.placeholder_for("a:b", "c", "email", "x@example.com")
    assert vault.value_for("a", "b:c", "<EMAIL_1>") is None


def test_vault_forget(vault: Vault) -> None:
    vault.placeholder_for("acme", "s1", "email", "a@example.com")
    vault.forget("acme", "s1")
    assert vault.value_for("acme", "s1", "<EMAIL_1>") is None
    assert vault.placeholder_for("acme", "s1", "email", "b@example.com") == "<EMAIL_1>"


def test_vault_keeps_unicode_values(vault: Vault) -> None:
    placeholder = vault.placeholder_for("acme", "s1", "person", "Żaneta Wójcik 😀")
    assert vault.value_for("acme", "s1", placeholder) == "Żaneta Wójcik 😀"


def test_memory_vault_expires_after_ttl() -> None:
    clock = Clock()
    vault = MemoryVault(ttl_s=10, clock=clock)
    vault.placeholder_for("acme", "s1", "email", "a@example.com")
    clock.now += 9
    assert vault.value_for("acme", "s1", "<EMAIL_1>") == "a@example.com"  # use extends the TTL
    clock.now += 9
    assert vault.value_for("acme", "s1", "<EMAIL_1>") == "a@example.com"
    clock.now += 11
    assert vault.value_for("acme", "s1", "<EMAIL_1>") is None
    vault.placeholder_for("acme", "s2", "email", "b@example.com")
    assert len(vault) == 1


def test_memory_vault_drops_least_recent_session() -> None:
    vault = MemoryVault(max_sessions=2)
    for session in ("s1", "s2", "s3"):
        vault.placeholder_for("acme", session, "email", "a@example.com")
    assert vault.value_for("acme", "s1", "<EMAIL_1>") is None
    assert vault.value_for("acme", "s3", "<EMAIL_1>") == "a@example.com"


@pytest.mark.redis
def test_redis_vault_sets_ttl(redis_url: str) -> None:
    RedisVault(redis_url, ttl_s=60).placeholder_for("acme", "s1", "email", "a@example.com")
    client = redis.Redis.from_url(redis_url)
    (key,) = client.keys("mesh:vault:*")
    assert 0 < client.ttl(key) <= 60
    fields = [str(field) for field in client.hkeys(key)]
    assert not any("a@example.com" in field for field in fields)  # values are stored, never used as keys
    client.close()


@pytest.mark.redis
def test_redis_vault_is_consistent_across_processes(redis_url: str) -> None:
    # Two vault objects stand for two processes; they race to mask the same values.
    vaults = [RedisVault(redis_url), RedisVault(redis_url)]
    results: list[list[str]] = [[], []]
    values = [("email", f"user{i}@example.com") for i in range(50)]

    def mask(index: int) -> None:
        results[index] = vaults[index].placeholders_for("acme", "run-1", values)

    threads = [threading.Thread(target=mask, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results[0] == results[1]
    assert sorted(set(results[0])) == sorted(f"<EMAIL_{i}>" for i in range(1, 51))


@pytest.mark.redis
def test_redactor_uses_redis_when_configured(redis_url: str) -> None:
    settings = MeshSettings(redis_url=redis_url)
    masked = Redactor(settings).mask_text("mail a@example.com", tenant="acme", session="s1").text
    # A second Redactor, as in another process, restores what the first masked.
    assert Redactor(settings).restore_text(masked, tenant="acme", session="s1") == ("mail a@example.com", 1)


def test_redis_vault_unreachable_raises_backend_unavailable(tmp_path: Path) -> None:
    vault = RedisVault(f"unix://:secret@{tmp_path}/absent.sock")
    with pytest.raises(BackendUnavailable, match="check that Redis is running") as caught:
        vault.placeholder_for("acme", "s1", "email", "a@example.com")
    assert "secret" not in str(caught.value)
    assert "a@example.com" not in str(caught.value)
