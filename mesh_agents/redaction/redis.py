"""Redis vault: placeholders shared by every process that uses the same Redis.

One hash per tenant and session contains three kinds of fields:

- ``v:<label>:<sha256 of value>`` -> placeholder, so the same value gets the same one;
- ``p:<placeholder>`` -> value, for restoring;
- ``n:<TAG>`` -> how many placeholders of that tag exist.

A Lua script creates missing placeholders atomically, so two processes masking the
same value at once get the same placeholder. Every use resets the key's TTL.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from mesh_agents._urls import safe_url
from mesh_agents.errors import BackendUnavailable, MissingExtraError
from mesh_agents.redaction.placeholders import placeholder_tag

__all__ = ["RedisVault"]

logger = logging.getLogger(__name__)

_GET_OR_CREATE = """
local key = KEYS[1]
local ttl = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 3 do
  local value_field = ARGV[i]
  local tag = ARGV[i + 1]
  local placeholder = redis.call('HGET', key, value_field)
  if not placeholder then
    local number = redis.call('HINCRBY', key, 'n:' .. tag, 1)
    placeholder = '<' .. tag .. '_' .. number .. '>'
    redis.call('HSET', key, value_field, placeholder, 'p:' .. placeholder, ARGV[i + 2])
  end
  out[#out + 1] = placeholder
end
redis.call('EXPIRE', key, ttl)
return out
"""


class RedisVault:
    """A vault in Redis, for many processes or hosts.

    Args:
        url: Redis URL, such as ``redis://localhost:6379/0``.
        ttl_s: Default lifetime of a session after its last use, seconds.
        prefix: Key prefix.
        client: An existing ``redis.Redis`` client to use instead of ``url``.
    """

    def __init__(
        self, url: str | None = None, *, ttl_s: int = 86_400, prefix: str = "mesh:vault:", client: Any = None
    ) -> None:
        if url is None and client is None:
            raise ValueError("RedisVault needs a url or a client")
        self._url = url
        self._ttl_s = ttl_s
        self._prefix = prefix
        self._client = client
        self._script: Any = None
        self._lock = threading.Lock()

    def placeholder_for(self, tenant: str, session: str, label: str, value: str) -> str:
        """Return the placeholder for ``value``, creating one such as ``<PERSON_1>``."""
        return self.placeholders_for(tenant, session, [(label, value)])[0]

    def value_for(self, tenant: str, session: str, placeholder: str) -> str | None:
        """Return the value behind ``placeholder``, or None if it is unknown or expired."""
        return self.values_for(tenant, session, [placeholder]).get(placeholder)

    def placeholders_for(
        self, tenant: str, session: str, items: Sequence[tuple[str, str]], *, ttl_s: int | None = None
    ) -> list[str]:
        """Return the placeholder of each ``(label, value)`` pair, creating missing ones atomically."""
        if not items:
            return []
        args: list[str | int] = [ttl_s or self._ttl_s]
        for label, value in items:
            digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
            args += [f"v:{label}:{digest}", placeholder_tag(label), value]
        script = self._get_script()
        try:
            result = script(keys=[self._key(tenant, session)], args=args)
        except Exception as exc:
            raise self._unavailable(exc) from exc
        return [_decode(item) for item in result]

    def values_for(
        self, tenant: str, session: str, placeholders: Iterable[str], *, ttl_s: int | None = None
    ) -> dict[str, str]:
        """Return the values of the known placeholders among ``placeholders``."""
        wanted = list(dict.fromkeys(placeholders))
        if not wanted:
            return {}
        key = self._key(tenant, session)
        try:
            pipe = self._get_client().pipeline(transaction=False)
            pipe.hmget(key, [f"p:{placeholder}" for placeholder in wanted])
            pipe.expire(key, ttl_s or self._ttl_s, xx=True)
            values, _ = pipe.execute()
        except Exception as exc:
            raise self._unavailable(exc) from exc
        return {
            placeholder: _decode(value) for placeholder, value in zip(wanted, values, strict=True) if value is not None
        }

    def forget(self, tenant: str, session: str) -> None:
        """Delete every placeholder of the session."""
        try:
            self._get_client().delete(self._key(tenant, session))
        except Exception as exc:
            raise self._unavailable(exc) from exc

    def _key(self, tenant: str, session: str) -> str:
        # The tenant's length keeps "a:b"+"c" and "a"+"b:c" apart.
        return f"{self._prefix}{len(tenant)}:{tenant}:{session}"

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import redis
                except ImportError as exc:
                    raise MissingExtraError("redis", "redis") from exc
                assert self._url is not None
                self._client = redis.Redis.from_url(self._url)
            return self._client

    def _get_script(self) -> Any:
        client = self._get_client()
        with self._lock:
            if self._script is None:
                self._script = client.register_script(_GET_OR_CREATE)
            return self._script

    def _unavailable(self, exc: Exception) -> BackendUnavailable:
        logger.warning("redis vault call failed: %s", type(exc).__name__)
        return BackendUnavailable(
            f"the Redis vault at {safe_url(self._url)} failed ({type(exc).__name__}); "
            "check that Redis is running and redis_url is right",
            details={"error": type(exc).__name__},
        )


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value
