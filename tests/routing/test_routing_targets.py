"""Targets declared in settings."""

from __future__ import annotations

from mesh_agents.models import StandInChatModel
from mesh_agents.routing.schema import TargetSettings
from mesh_agents.routing.targets import target_from_settings


def test_standin_target_builds_offline() -> None:
    target = target_from_settings("cheap", TargetSettings(model="standin:small", input_usd_per_mtok=0.5))
    assert isinstance(target.model, StandInChatModel)
    assert target.provider == "standin"
    assert target.model_name == "small"
    assert target.input_usd_per_token == 0.5 / 1_000_000


def test_bare_standin_target_gets_default_name() -> None:
    target = target_from_settings("plain", TargetSettings(model="standin"))
    assert target.model_name == "standin"
