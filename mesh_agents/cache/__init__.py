"""The semantic cache: scoped, guarded against hard negatives, in memory or in Redis."""

from mesh_agents.cache.base import CacheBackend, CacheLookup, CacheRecord, CacheScope, Verifier
from mesh_agents.cache.guards import GUARDS, Guard, normalize_text
from mesh_agents.cache.memory import MemoryCacheBackend
from mesh_agents.cache.schema import CacheSettings
from mesh_agents.cache.semantic import SemanticCache, prompt_text

__all__ = [
    "GUARDS",
    "CacheBackend",
    "CacheLookup",
    "CacheRecord",
    "CacheScope",
    "CacheSettings",
    "Guard",
    "MemoryCacheBackend",
    "SemanticCache",
    "Verifier",
    "normalize_text",
    "prompt_text",
]
