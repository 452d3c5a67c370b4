"""Contracts of the semantic cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from langchain_core.messages import AIMessage

__all__ = ["CacheBackend", "CacheLookup", "CacheScope"]


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
        """A single string that identifies the scope in a store."""
        parts = (self.tenant, self.model, self.params_hash, self.namespace, self.pii_fingerprint)
        return "|".join(parts)


@dataclass
class CacheLookup:
    """The outcome of one lookup.

    Attributes:
        hit: Whether an answer is served.
        message: The cached answer (placeholders still in it) when ``hit``.
        distance: Cosine distance (0 to 2) of the nearest candidate, if any.
        threshold: The ``distance_threshold`` that applied.
        exact: Whether the hit was an exact match of the normalised text.
        refused_by: Name of the hard-negative guard that refused the nearest candidate.
        entry_id: Id of the served entry.
        target: Target that produced the cached answer.
        usage: The cached answer's original ``usage_metadata``, for cache-read accounting.
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


@runtime_checkable
class CacheBackend(Protocol):
    """Storage and nearest-neighbour search for cache entries within one scope."""

    def search(self, scope: CacheScope, vector: Any, k: int) -> list[tuple[str, float, dict[str, Any]]]:
        """Return up to ``k`` entries of ``scope`` as ``(entry_id, cosine distance, entry)``."""
        ...
