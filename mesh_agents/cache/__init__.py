"""The semantic cache: scoped, guarded against hard negatives, in memory or in Redis."""

from mesh_agents.cache.base import CacheBackend, CacheLookup, CacheRecord, CacheScope, Verifier
from mesh_agents.cache.guards import GUARD_NAMES, Guard, WordChangeGuard, normalize_text, select_guards
from mesh_agents.cache.memory import MemoryCacheBackend
from mesh_agents.cache.schema import CacheSettings
from mesh_agents.cache.semantic import SemanticCache, prompt_text

__all__ = [
    "GUARD_NAMES",
    "CacheBackend",
    "CacheLookup",
    "CacheRecord",
    "CacheScope",
    "CacheSettings",
    "Guard",
    "MemoryCacheBackend",
    "SemanticCache",
    "Verifier",
    "WordChangeGuard",
    "normalize_text",
    "prompt_text",
    "select_guards",
]
