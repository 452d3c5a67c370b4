"""The Router facade: targets, explicit models, tenant settings, explanations and errors."""

from __future__ import annotations

import builtins
import json
import sys
from typing import Any

import pytest
from routing_support import ToolModel, fake_model, mesh_settings, request

from mesh_agents.errors import ConfigurationError, InvalidInputError, MissingExtraError, PolicyViolation
from mesh_agents.routing import Router, Target
from mesh_agents.routing.retry import RetryPlan
from mesh_agents.settings import MeshSettings


def test_route_without_targets_says_how_to_add_one() -> None:
    router = Router(MeshSettings())
    with pytest.raises(ConfigurationError) as caught:
        router.route(request())
    assert "routing.targets" in str(caught.value)
    assert "targets=" in str(caught.value)


def test_bare_chat_model_becomes_named_target() -> None:
    router = Router(MeshSettings(), targets={"small": fake_model()})
    target = router.targets["small"]
    assert isinstance(target, Target)
    assert target.name == "small"
    assert target.provider == "genericfakechatmodel"
    assert "tools" not in target.capabilities
    assert "tools" in Router(MeshSettings(), targets={"t": ToolModel(messages=iter([]))}).targets["t"].capabilities


def test_target_object_keeps_metadata_under_mapping_key() -> None:
    declared = Target(name="other", model=fake_model(), provider="openai", model_name="gpt-4o-mini", weight=3.0)
    router = Router(MeshSettings(), targets={"mini": declared})
    assert router.targets["mini"].name == "mini"
    assert router.targets["mini"].weight == 3.0


def test_requested_model_goes_first_then_fallbacks() -> None:
    router = Router(MeshSettings(), targets={"a": fake_model(), "b": fake_model(), "c": fake_model()})
    decision = router.route(request(model="b"))
    assert decision.ranked == ["b", "a", "c"]
    assert decision.explanation["requested_model"] == "b"


def test_requested_model_overrides_policy_removal() -> None:
    router = Router(MeshSettings(), targets={"plain": fake_model(), "tools": ToolModel(messages=iter([]))})
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    decision = router.route(request(model="plain", params={"tools": tools}))
    assert decision.ranked == ["plain", "tools"]
    row = decision.explanation["candidates"][0]
    assert row["removed_by"] is None
    assert "capabilities" in row["notes"]["requested"]


def test_unknown_requested_model_lists_known_targets() -> None:
    router = Router(MeshSettings(), targets={"a": fake_model(), "b": fake_model()})
    with pytest.raises(InvalidInputError) as caught:
        router.route(request(model="gpt-9"))
    message = str(caught.value)
    assert "'gpt-9'" in message
    assert "a, b" in message


def test_default_target_ranks_first_without_ranking_policy() -> None:
    settings = mesh_settings(routing={"default_target": "b"})
    router = Router(settings, targets={"a": fake_model(), "b": fake_model()})
    assert router.route(request()).ranked == ["b", "a"]


def test_unknown_default_target_is_a_configuration_error() -> None:
    settings = mesh_settings(routing={"default_target": "zzz"})
    router = Router(settings, targets={"a": fake_model()})
    with pytest.raises(ConfigurationError, match="'zzz'"):
        router.route(request())


def test_tenant_override_pins_its_targets() -> None:
    pinned = {"routing": {"policies": [{"kind": "pinning", "targets": ["eu"]}]}}
    settings = mesh_settings(tenants={"eu-bank": pinned, "acme": {}})
    router = Router(settings, targets={"us": fake_model(), "eu": fake_model()})
    assert router.route(request(tenant="eu-bank")).ranked == ["eu"]
    assert router.route(request(tenant="acme")).ranked == ["us", "eu"]
    removed = {
        row["target"]: row["removed_by"] for row in router.route(request(tenant="eu-bank")).explanation["candidates"]
    }
    assert removed == {"us": "pinning", "eu": None}


def test_allowed_targets_reject_explicit_disallowed_model() -> None:
    settings = mesh_settings(tenants={"acme": {"routing": {"allowed_targets": ["a"]}}})
    router = Router(settings, targets={"a": fake_model(), "b": fake_model()})
    assert router.route(request()).ranked == ["a"]
    with pytest.raises(InvalidInputError, match="not allowed"):
        router.route(request(model="b"))


def test_every_target_removed_raises_policy_violation_with_reasons() -> None:
    router = Router(MeshSettings(), targets={"a": fake_model(), "b": fake_model()})
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    with pytest.raises(PolicyViolation) as caught:
        router.route(request(params={"tools": tools}))
    assert "a: capabilities (no tool calling)" in str(caught.value)
    assert caught.value.details["b"]["removed_by"] == "capabilities"


def test_explanation_has_no_prompt_text() -> None:
    secret = "Quarterly invoice for account 4242-XYZZY is wrong"
    router = Router(MeshSettings(), targets={"a": fake_model(), "b": fake_model()})
    decision = router.route(request(secret))
    dumped = json.dumps(decision.explanation)
    assert "XYZZY" not in dumped
    assert "invoice" not in dumped
    assert decision.explanation["winner"] == "a"
    assert [row["target"] for row in decision.explanation["candidates"]] == ["a", "b"]


def test_plan_rejects_decision_with_unknown_target() -> None:
    router = Router(MeshSettings(), targets={"a": fake_model()})
    decision = router.route(request())
    decision.ranked.append("ghost")
    with pytest.raises(InvalidInputError, match="ghost"):
        router.plan(decision, request())


def test_plan_follows_decision_ranking() -> None:
    router = Router(MeshSettings(), targets={"a": fake_model(), "b": fake_model()})
    decision = router.route(request(model="b"))
    plan = router.plan(decision, request())
    assert isinstance(plan, RetryPlan)
    attempt = plan.next_attempt()
    assert attempt is not None
    assert attempt.target.name == "b"
    assert attempt.is_fallback is False


def test_settings_targets_without_langchain_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_langchain(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "langchain.chat_models" or name.startswith("langchain.chat_models"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "langchain.chat_models", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_langchain)
    router = Router(mesh_settings(routing={"targets": {"mini": {"model": "openai:gpt-4o-mini"}}}))
    with pytest.raises(MissingExtraError) as caught:
        router.route(request())
    assert "mesh-agents[providers]" in str(caught.value)


def test_settings_target_with_unknown_provider_names_it() -> None:
    router = Router(mesh_settings(routing={"targets": {"odd": {"model": "nosuchprovider:model-x"}}}))
    with pytest.raises(ConfigurationError) as caught:
        router.route(request())
    assert "'odd'" in str(caught.value)
    assert "nosuchprovider:model-x" in str(caught.value)


def test_span_attributes_explain_without_text() -> None:
    router = Router(MeshSettings(), targets={"plain": fake_model(), "tools": ToolModel(messages=iter([]))})
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    attributes = router.route(request("Refund order 77-SECRET please", params={"tools": tools})).span_attributes()
    assert attributes["mesh.route.target"] == "tools"
    assert attributes["mesh.route.candidates"] == ["tools"]
    assert attributes["mesh.route.removed"] == ["plain=capabilities"]
    assert attributes["mesh.route.policies"] == ["capabilities"]
    assert json.loads(attributes["mesh.route.explanation"])["winner"] == "tools"
    assert all("SECRET" not in str(value) for value in attributes.values())
