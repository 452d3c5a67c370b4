"""Helpers for tests and benchmarks: a throwaway Redis with search on a free port."""

from mesh_agents.testing.redis_server import RedisServer, find_redis_server

__all__ = ["RedisServer", "find_redis_server"]
