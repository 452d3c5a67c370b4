"""Shared fixtures: a real Redis with search, and isolation from a local mesh.yaml."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mesh_agents.testing import RedisServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_configure(config: pytest.Config) -> None:
    """Keep a developer's mesh.yaml and MESH_* variables out of module and session fixtures too."""
    for name in list(os.environ):
        if name.startswith("MESH_") and not name.startswith("MESH_TEST_"):
            del os.environ[name]
    os.environ["MESH_CONFIG"] = os.path.join(os.path.dirname(__file__), "absent-mesh.yaml")


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep a developer's mesh.yaml and MESH_* variables out of the tests."""
    for name in list(os.environ):
        if name.startswith("MESH_") and not name.startswith("MESH_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MESH_CONFIG", str(tmp_path_factory.getbasetemp() / "absent-mesh.yaml"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis 8 with RediSearch and RedisJSON on a free 127.0.0.1 port, for the whole session."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The test Redis URL, flushed after each test."""
    yield redis_server.url
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
