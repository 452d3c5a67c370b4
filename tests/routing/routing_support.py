"""Helpers for routing tests: fake chat models, requests and a clock that tests move by hand."""

from __future__ import annotations

import itertools
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import HumanMessage

from mesh_agents.routing import Target
from mesh_agents.settings import MeshSettings
from mesh_agents.types import MeshRequest

Targets = dict[str, BaseChatModel | Target]


class ManualClock:
    """Unix-seconds clock that only moves when a test calls ``advance``."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ToolModel(GenericFakeChatModel):
    """A fake chat model that accepts tools, as provider models do."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def fake_model(answer: str = "ok") -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.repeat(answer))


def request(text: str = "Where can I download my March invoice?", **fields: Any) -> MeshRequest:
    fields.setdefault("tenant", "acme")
    return MeshRequest(messages=[HumanMessage(text)], **fields)


def mesh_settings(**data: Any) -> MeshSettings:
    """Build settings from plain dicts, as mesh.yaml would give them."""
    return MeshSettings(**data)
