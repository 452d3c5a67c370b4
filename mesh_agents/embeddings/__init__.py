"""Text embeddings shared by the cache, the semantic router and the guardrail classifier."""

from mesh_agents.embeddings.base import Vectorizer
from mesh_agents.embeddings.local import LocalMiniLMVectorizer, default_vectorizer

__all__ = ["LocalMiniLMVectorizer", "Vectorizer", "default_vectorizer"]
