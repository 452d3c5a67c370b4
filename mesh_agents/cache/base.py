"""Contracts of the semantic cache."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from langchain_core.messages import AIMessage

__all__ = ["CacheBackend", "CacheLookup", "CacheRecord", "CacheScope", "Verifier"]


@dataclass(frozen=True)
class CacheScope:
    """What a cached answer is valid for; every field is part of the key.

    Attributes:
        tenant: Owner of the entry. Entries never cross tenants.
        model: Requested target name, or ``"auto"`` when the router chooses.
        params_hash: Hash of the answer-changing parameters (temperature, tools,
            system prompt, response format).
        namespace: Optional user or namespace partition.
        pii_fingerprint: Salted hash of the masked personal values, so an answer about
            one person is never served for a request about another.
    """

    tenant: str
    model: str
    params_hash: str
    namespace: str = ""
    pii_fingerprint: str = ""

    def key(self) -> str:
        """Return a single string that identifies the scope in a store."""
        parts = (self.tenant, self.model, self.params_hash, self.namespace, self.pii_fingerprint)
        return "|".join(parts)

    def digest(self) -> str:
        """Return a fixed-length hash of ``key()``, the partition id that backends search within."""
        return hashlib.sha256(self.key().encode()).hexdigest()[:32]


@dataclass
class CacheLookup:
    """The outcome of one lookup.

    Attributes:
        hit: Whether an answer is served.
        message: The cached answer (placeholders still in it) when ``hit``.
        distance: Cosine distance (0 to 2) of the served entry, or of the nearest
            candidate on a miss; None when the scope holds no entry.
        threshold: The ``distance_threshold`` that applied.
        exact: Whether the hit was an exact match of the normalised text.
        refused_by: Name of the hard-negative guard (or ``"verifier"``) that refused
            the nearest candidate within the threshold.
        entry_id: Id of the served entry.
        target: Target that produced the cached answer.
        usage: The cached answer's original ``usage_metadata``, for cache-read accounting.
        skipped: Why no lookup ran (``"disabled"``, ``"no-cache"``, ``"force-refresh"``,
            or ``"unavailable"`` when the backend could not be reached).
    """

    hit: bool
    message: AIMessage | None = None
    distance: float | None = None
    threshold: float | None = None
    exact: bool = False
    refused_by: str | None = None
    entry_id: str | None = None
    target: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


@dataclass
class CacheRecord:
    """One stored answer.

    Attributes:
        entry_id: Hash of the scope and the normalised prompt; storing the same prompt
            in the same scope again replaces the entry.
        tenant: Owner of the entry.
        scope_digest: ``CacheScope.digest()`` of the scope it was stored in.
        prompt: The PII-masked prompt text, kept for the guards.
        message: The answer serialised by ``langchain_core.messages.message_to_dict``.
        target: Target that produced the answer.
        tags: Labels for invalidation.
        created_at: Unix time, seconds.
        expires_at: Unix time, seconds; None for no expiry.
    """

    entry_id: str
    tenant: str
    scope_digest: str
    prompt: str
    message: dict[str, Any]
    target: str | None = None
    tags: tuple[str, ...] = ()
    created_at: float = 0.0
    expires_at: float | None = None


@runtime_checkable
class CacheBackend(Protocol):
    """Storage and nearest-neighbour search for cache entries, partitioned by scope.

    Every read takes the scope and searches only that scope's partition, so an entry
    of another scope cannot be returned whatever its distance.
    """

    def get(self, scope: CacheScope, entry_id: str) -> CacheRecord | None:
        """Return the live entry ``entry_id`` of ``scope``, or None."""
        ...

    def search(
        self, scope: CacheScope, vector: npt.NDArray[np.float32], k: int
    ) -> list[tuple[str, float, CacheRecord]]:
        """Return up to ``k`` live entries of ``scope`` as ``(entry_id, cosine distance, record)``, nearest first."""
        ...

    def put(self, scope: CacheScope, record: CacheRecord, vector: npt.NDArray[np.float32]) -> str:
        """Store ``record`` (replacing an entry with the same id) and return its id."""
        ...

    def delete(self, *, tenant: str, tag: str | None = None, entry_id: str | None = None) -> int:
        """Delete a tenant's entries, only those with ``tag`` or only ``entry_id``; return how many."""
        ...

    def count(self, tenant: str | None = None) -> int:
        """Return the number of live entries, of one tenant or of all."""
        ...


@runtime_checkable
class Verifier(Protocol):
    """Second opinion for a candidate in the gray zone, such as a cross-encoder.

    ``verify`` returns True when a cached answer to ``candidate`` also answers
    ``query``. Both texts are PII-masked.
    """

    name: str

    def verify(self, query: str, candidate: str) -> bool: ...
