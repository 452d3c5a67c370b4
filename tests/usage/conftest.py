"""Fixtures of the usage tests: trackers over each budget store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mesh_agents.settings import MeshSettings
from mesh_agents.usage import UsageSettings, UsageTracker


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """The budget store the tracker under test uses."""
    return str(request.param)


@pytest.fixture
def tracker_factory(backend: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., UsageTracker]]:
    """Build trackers from usage settings, on the memory store or on the test Redis."""
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None

    def build(**usage: Any) -> UsageTracker:
        return UsageTracker(MeshSettings(redis_url=redis_url, usage=UsageSettings.model_validate(usage)))

    yield build
