"""Chat models: the offline stand-in and the resolver for provider strings."""

from mesh_agents.models.providers import resolve_model
from mesh_agents.models.standin import STANDIN_NOTE, StandInChatModel, count_tokens, message_tokens

__all__ = ["STANDIN_NOTE", "StandInChatModel", "count_tokens", "message_tokens", "resolve_model"]
