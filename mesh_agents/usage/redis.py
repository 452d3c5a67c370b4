"""Budget store and ledger in Redis, shared by every process that points at the same server.

Each budget window is a hash of spent and held amounts plus a sorted set of the
reservations holding it, scored by their expiry. Reservation, settlement and release
each run as one Lua script over all the windows of a call. Redis runs a script without
interleaving other commands, so two processes can never both take the last room in a
budget. Expired holds are freed by the next reservation that touches the window.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from mesh_agents.errors import BackendUnavailable, MissingExtraError
from mesh_agents.usage.base import (
    BudgetDenial,
    BudgetLimit,
    Reservation,
    UsageRecord,
    remaining_from_store,
    to_nano_usd,
)

__all__ = ["RedisBudgetStore", "RedisLedger", "connect"]

logger = logging.getLogger(__name__)

# KEYS: per window, the hash and then the holds sorted set.
# ARGV: now, member, reservation expiry, tokens, cost, then per window
# max tokens, max cost, max requests, key expiry (-1 for none of each).
# Returns {0, room in tokens, cost, requests (-1 when unlimited)} when held, else
# {window index, dimension, limit, spent, held, requested}.
# Hash fields: st/sc/sr spent tokens, cost, requests; ht/hc/hr the same held.
# A member is "<id>|<tokens>|<cost>"; every hold is one request. Amounts stay strings
# so large integers keep every digit, and neg() avoids "-0", which HINCRBY rejects.
_NEGATE = """
local function neg(value)
  if value == '0' then return '0' end
  return '-' .. value
end
"""

_RESERVE = (
    _NEGATE
    + """
local now = tonumber(ARGV[1])
local member = ARGV[2]
local n = #KEYS / 2
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local expired = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, m in ipairs(expired) do
    local t, c = string.match(m, '|(%d+)|(%d+)$')
    redis.call('HINCRBY', h, 'ht', neg(t))
    redis.call('HINCRBY', h, 'hc', neg(c))
    redis.call('HINCRBY', h, 'hr', -1)
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
end
local want = {tonumber(ARGV[4]), tonumber(ARGV[5]), 1}
local names = {'tokens', 'cost', 'requests'}
for i = 1, n do
  local v = redis.call('HMGET', KEYS[2 * i - 1], 'st', 'sc', 'sr', 'ht', 'hc', 'hr')
  for d = 1, 3 do
    local limit = tonumber(ARGV[5 + (i - 1) * 4 + d])
    local spent = tonumber(v[d] or '0')
    local held = tonumber(v[d + 3] or '0')
    if limit >= 0 and spent + held + want[d] > limit then
      return {i, names[d], limit, spent, held, want[d]}
    end
  end
end
local room = {-1, -1, -1}
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('HINCRBY', h, 'ht', ARGV[4])
  redis.call('HINCRBY', h, 'hc', ARGV[5])
  redis.call('HINCRBY', h, 'hr', 1)
  redis.call('ZADD', z, ARGV[3], member)
  local expiry = tonumber(ARGV[5 + i * 4])
  if expiry >= 0 then
    redis.call('EXPIREAT', h, expiry)
    redis.call('EXPIREAT', z, expiry)
  end
  local v = redis.call('HMGET', h, 'st', 'sc', 'sr', 'ht', 'hc', 'hr')
  for d = 1, 3 do
    local limit = tonumber(ARGV[5 + (i - 1) * 4 + d])
    if limit >= 0 then
      local left = limit - tonumber(v[d] or '0') - tonumber(v[d + 3] or '0')
      if room[d] < 0 or left < room[d] then room[d] = left end
    end
  end
end
return {0, room[1], room[2], room[3]}
"""
)

# KEYS: as for _RESERVE. ARGV: member, held tokens, held cost, spent tokens, spent cost,
# spent requests. A window whose hash has expired is skipped: its period is over.
_SETTLE = (
    _NEGATE
    + """
local n = #KEYS / 2
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('ZREM', z, ARGV[1]) == 1 then
    redis.call('HINCRBY', h, 'ht', neg(ARGV[2]))
    redis.call('HINCRBY', h, 'hc', neg(ARGV[3]))
    redis.call('HINCRBY', h, 'hr', -1)
  end
  if ARGV[6] ~= '0' and redis.call('EXISTS', h) == 1 then
    redis.call('HINCRBY', h, 'st', ARGV[4])
    redis.call('HINCRBY', h, 'sc', ARGV[5])
    redis.call('HINCRBY', h, 'sr', ARGV[6])
  end
end
return true
"""
)


def connect(url: str, *, timeout_s: float) -> Any:
    """Return a redis-py client for ``url``; nothing is sent until the first command."""
    try:
        import redis
    except ImportError as exc:
        raise MissingExtraError("redis", "redis") from exc
    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, health_check_interval=30
    )


def _unavailable(action: str, exc: Exception) -> BackendUnavailable:
    return BackendUnavailable(
        f"the Redis usage store could not {action} ({type(exc).__name__}); "
        "check that the Redis at redis_url (MESH_REDIS_URL) is running and reachable.",
        details={"store": "redis", "action": action, "error": type(exc).__name__},
    )


class RedisBudgetStore:
    """Budget windows in Redis, updated atomically by Lua scripts.

    Args:
        client: A redis-py client (``connect()``), created without connecting.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)

    def reserve(self, reservation: Reservation, limits: Mapping[str, BudgetLimit]) -> BudgetDenial | None:
        keys = _keys(limits)
        cost = to_nano_usd(reservation.cost_usd)
        args: list[Any] = [repr(time.time()), _member(reservation), repr(reservation.expires_at)]
        args += [reservation.tokens, cost]
        for limit in limits.values():
            args += [_or_none(limit.tokens), _or_none(limit.cost_nano_usd), _or_none(limit.requests)]
            args.append(-1 if limit.expires_at is None else int(limit.expires_at) + 1)
        try:
            result = self._reserve(keys=keys, args=args)
        except Exception as exc:
            if _is_connection_error(exc):
                raise _unavailable("reserve budget", exc) from exc
            raise
        if int(result[0]) == 0:
            room = {name: int(value) for name, value in zip(("tokens", "cost", "requests"), result[1:], strict=True)}
            reservation.remaining = remaining_from_store({k: v for k, v in room.items() if v >= 0})
            return None
        index, dimension, limit_value, spent, held, requested = result
        key = list(limits)[int(index) - 1]
        name = dimension.decode() if isinstance(dimension, bytes) else str(dimension)
        return BudgetDenial(key, name, int(limit_value), int(spent), int(held), int(requested))  # type: ignore[arg-type]

    def settle(self, reservation: Reservation, *, tokens: int, cost_usd: float) -> None:
        self._run_settle(reservation, tokens=tokens, cost=to_nano_usd(cost_usd), requests=1, action="settle budget")

    def release(self, reservation: Reservation) -> None:
        self._run_settle(reservation, tokens=0, cost=0, requests=0, action="release budget")

    def usage(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        keys = list(keys)
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(key, "st", "sc", "sr", "ht", "hc", "hr")
                rows = pipe.execute()
        except Exception as exc:
            if _is_connection_error(exc):
                raise _unavailable("read budget usage", exc) from exc
            raise
        names = ("tokens", "cost", "requests", "held_tokens", "held_cost", "held_requests")
        return {
            key: {name: int(value or 0) for name, value in zip(names, row, strict=True)}
            for key, row in zip(keys, rows, strict=True)
        }

    def _run_settle(self, reservation: Reservation, *, tokens: int, cost: int, requests: int, action: str) -> None:
        if not reservation.budget_keys:
            return
        keys = [part for key in reservation.budget_keys for part in (key, key + ":holds")]
        held_cost = to_nano_usd(reservation.cost_usd)
        args = [_member(reservation), reservation.tokens, held_cost, tokens, cost, requests]
        try:
            self._settle(keys=keys, args=args)
        except Exception as exc:
            if _is_connection_error(exc):
                raise _unavailable(action, exc) from exc
            raise


class RedisLedger:
    """Usage records in one Redis stream, trimmed to about ``max_records``.

    Stream ids are the append time in milliseconds, so a time range is an id range.
    """

    def __init__(self, client: Any, *, key: str, max_records: int = 1_000_000) -> None:
        self._client = client
        self._key = key
        self._max_records = max_records

    def append(self, record: UsageRecord) -> None:
        data = json.dumps(record.to_dict(), separators=(",", ":"))
        try:
            self._client.xadd(self._key, {"r": data}, maxlen=self._max_records, approximate=True)
        except Exception as exc:
            if _is_connection_error(exc):
                raise _unavailable("append to the usage ledger", exc) from exc
            raise

    def query(self, *, since: float | None = None, tenant: str | None = None) -> list[UsageRecord]:
        start = "-" if since is None else str(max(int(since * 1000), 0))
        records: list[UsageRecord] = []
        try:
            while True:
                rows = self._client.xrange(self._key, min=start, max="+", count=10_000)
                for _id, fields in rows:
                    record = UsageRecord.from_dict(json.loads(fields[b"r"]))
                    if (since is None or record.timestamp >= since) and (tenant is None or record.tenant == tenant):
                        records.append(record)
                if len(rows) < 10_000:
                    break
                start = "(" + rows[-1][0].decode()
        except Exception as exc:
            if _is_connection_error(exc):
                raise _unavailable("read the usage ledger", exc) from exc
            raise
        return records


def _keys(limits: Mapping[str, BudgetLimit]) -> list[str]:
    return [part for key in limits for part in (key, key + ":holds")]


def _member(reservation: Reservation) -> str:
    return f"{reservation.id}|{reservation.tokens}|{to_nano_usd(reservation.cost_usd)}"


def _or_none(value: int | None) -> int:
    return -1 if value is None else value


def _is_connection_error(exc: Exception) -> bool:
    import redis

    return isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError)
