"""The memory and Redis budget stores agree on every sequence of reservations, settlements and releases."""

from __future__ import annotations

import time

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh_agents.usage.base import BudgetLimit, Reservation
from mesh_agents.usage.memory import MemoryBudgetStore
from mesh_agents.usage.redis import RedisBudgetStore, connect

KEYS = ("t:{acme}:budget:a:acme:total", "t:{acme}:budget:b:u1:total")
LIMITS = {
    KEYS[0]: BudgetLimit(tokens=1_000, cost_nano_usd=50_000, requests=None, expires_at=None),
    KEYS[1]: BudgetLimit(tokens=None, cost_nano_usd=None, requests=4, expires_at=None),
}

operation = st.one_of(
    st.tuples(st.just("reserve"), st.integers(1, 400), st.integers(0, 20_000)),
    st.tuples(st.just("settle"), st.integers(0, 400), st.integers(0, 20_000)),
    st.tuples(st.just("release"), st.just(0), st.just(0)),
)


@pytest.mark.redis
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_stores_agree(redis_url, operations):
    client = connect(redis_url, timeout_s=2.0)
    client.flushall()
    memory, shared = MemoryBudgetStore(), RedisBudgetStore(client)
    open_reservations: list[Reservation] = []
    for number, (kind, tokens, cost_nano) in enumerate(operations):
        if kind == "reserve":
            reservation = Reservation(
                id=f"r{number}",
                tenant="acme",
                target="small",
                tokens=tokens,
                cost_usd=cost_nano / 1e9,
                expires_at=time.time() + 300,
            )
            denial_memory = memory.reserve(reservation, LIMITS)
            denial_redis = shared.reserve(reservation, LIMITS)
            assert denial_memory == denial_redis
            if denial_memory is None:
                reservation.budget_keys = list(LIMITS)
                open_reservations.append(reservation)
        elif open_reservations:
            reservation = open_reservations.pop(0)
            if kind == "settle":
                memory.settle(reservation, tokens=tokens, cost_usd=cost_nano / 1e9)
                shared.settle(reservation, tokens=tokens, cost_usd=cost_nano / 1e9)
            else:
                memory.release(reservation)
                shared.release(reservation)
        assert memory.usage(KEYS) == shared.usage(KEYS)

    # Once every reservation is closed nothing stays held.
    for reservation in open_reservations:
        memory.release(reservation)
        shared.release(reservation)
    for values in shared.usage(KEYS).values():
        assert values["held_tokens"] == 0
        assert values["held_cost"] == 0
        assert values["held_requests"] == 0
    client.close()


def test_redis_store_raises_backend_unavailable_when_down():
    import socket

    from mesh_agents.errors import BackendUnavailable

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = RedisBudgetStore(connect(f"redis://127.0.0.1:{port}/0", timeout_s=0.5))
    reservation = Reservation(id="r", tenant="acme", target="small", tokens=1, cost_usd=0.0, budget_keys=[KEYS[0]])
    with pytest.raises(BackendUnavailable, match="could not reserve budget"):
        store.reserve(reservation, LIMITS)
    with pytest.raises(BackendUnavailable, match="could not settle budget"):
        store.settle(reservation, tokens=1, cost_usd=0.0)
    assert isinstance(redis.ConnectionError(), Exception)
