"""In-process vault: placeholders per tenant and session, with a sliding TTL."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from mesh_agents.redaction.placeholders import placeholder_tag

__all__ = ["MemoryVault"]


@dataclass
class _Session:
    expires_at: float
    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    by_placeholder: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)


class MemoryVault:
    """A vault in this process's memory, safe to share between threads.

    Args:
        ttl_s: Default lifetime of a session after its last use, seconds.
        max_sessions: Sessions kept; the least recently used one is dropped beyond it.
        clock: Monotonic clock in seconds, replaceable in tests.
    """

    def __init__(
        self, *, ttl_s: int = 86_400, max_sessions: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[tuple[str, str], _Session] = OrderedDict()
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
        """Return the placeholder of each ``(label, value)`` pair, creating missing ones."""
        with self._lock:
            entry = self._touch(tenant, session, ttl_s, create=True)
            assert entry is not None
            result = []
            for label, value in items:
                placeholder = entry.by_value.get((label, value))
                if placeholder is None:
                    tag = placeholder_tag(label)
                    number = entry.counters.get(tag, 0) + 1
                    entry.counters[tag] = number
                    placeholder = f"<{tag}_{number}>"
                    entry.by_value[(label, value)] = placeholder
                    entry.by_placeholder[placeholder] = value
                result.append(placeholder)
            return result

    def values_for(
        self, tenant: str, session: str, placeholders: Iterable[str], *, ttl_s: int | None = None
    ) -> dict[str, str]:
        """Return the values of the known placeholders among ``placeholders``."""
        with self._lock:
            entry = self._touch(tenant, session, ttl_s, create=False)
            if entry is None:
                return {}
            known = entry.by_placeholder
            return {placeholder: known[placeholder] for placeholder in placeholders if placeholder in known}

    def forget(self, tenant: str, session: str) -> None:
        """Delete every placeholder of the session."""
        with self._lock:
            self._sessions.pop((tenant, session), None)

    def __len__(self) -> int:
        """Return the number of sessions held, expired ones included until they are purged."""
        return len(self._sessions)

    def _touch(self, tenant: str, session: str, ttl_s: int | None, *, create: bool) -> _Session | None:
        """Return the live session, extending its lifetime; the caller holds the lock."""
        now = self._clock()
        self._purge(now)
        key = (tenant, session)
        entry = self._sessions.get(key)
        if entry is not None and entry.expires_at <= now:
            del self._sessions[key]
            entry = None
        if entry is None:
            if not create:
                return None
            entry = _Session(expires_at=0.0)
            self._sessions[key] = entry
            while len(self._sessions) > self._max_sessions:
                self._sessions.popitem(last=False)
        entry.expires_at = now + (ttl_s or self._ttl_s)
        self._sessions.move_to_end(key)
        return entry

    def _purge(self, now: float) -> None:
        # Sessions are ordered by last use, so expired ones gather at the front.
        # NOTE: a session with a short per-call TTL that sits behind one with a long TTL
        # is purged only after that one. Lookups treat it as expired all the same.
        while self._sessions:
            first = next(iter(self._sessions.values()))
            if first.expires_at > now:
                break
            self._sessions.popitem(last=False)
