"""Fixtures of the routing tests."""

from __future__ import annotations

import pytest
from routing_support import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
