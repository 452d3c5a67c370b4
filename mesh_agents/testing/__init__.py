"""Helpers for tests and benchmarks: a throwaway Redis with search, an OTLP/HTTP receiver."""

from mesh_agents.testing.otlp_receiver import OTLPReceiver, ReceivedLog, ReceivedMetric, ReceivedSpan
from mesh_agents.testing.redis_server import RedisServer, find_redis_server

__all__ = ["OTLPReceiver", "ReceivedLog", "ReceivedMetric", "ReceivedSpan", "RedisServer", "find_redis_server"]
