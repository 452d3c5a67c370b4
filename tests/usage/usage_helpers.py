"""Builders of requests and targets for the usage tests."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage

from mesh_agents.routing.base import Target
from mesh_agents.types import MeshRequest, ModelParams


def make_target(name: str = "gpt-4o-mini", *, model_name: str = "gpt-4o-mini", provider: str = "openai") -> Target:
    model = GenericFakeChatModel(messages=iter([AIMessage(content="unused")]))
    return Target(name=name, model=model, provider=provider, model_name=model_name)


def make_request(text: str = "What is the refund policy for annual plans?", **fields: Any) -> MeshRequest:
    max_tokens = fields.pop("max_tokens", 100)
    return MeshRequest(
        messages=[HumanMessage(content=text)],
        tenant=fields.pop("tenant", "acme"),
        params=ModelParams(max_tokens=max_tokens),
        **fields,
    )
