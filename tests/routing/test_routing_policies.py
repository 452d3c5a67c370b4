"""Each routing policy, alone and composed in order."""

from __future__ import annotations

from collections import Counter

import pytest
from routing_support import ManualClock, Targets, ToolModel, fake_model, mesh_settings, request

from mesh_agents.routing import (
    BudgetAwareDowngrade,
    CapabilityFilter,
    CostCeiling,
    LeastBusy,
    LowestExpectedCost,
    LowestLatency,
    Router,
    Rules,
    Target,
    TenantPinning,
    WeightedRoundRobin,
)
from mesh_agents.routing.schema import RuleSettings
from mesh_agents.routing.targets import target_from_model
from mesh_agents.settings import MeshSettings

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def _priced(name: str, model_name: str) -> Target:
    return target_from_model(name, fake_model(), provider="openai", model_name=model_name)


def test_prices_come_from_genai_prices() -> None:
    mini = _priced("mini", "gpt-4o-mini")
    assert mini.input_usd_per_token == pytest.approx(0.15 / 1_000_000)
    assert mini.output_usd_per_token == pytest.approx(0.60 / 1_000_000)
    assert mini.context_window == 128_000
    assert target_from_model("local", fake_model()).priced is False


def test_capability_filter_removes_targets_without_tools() -> None:
    router = Router(
        MeshSettings(),
        targets={"plain": fake_model(), "tools": ToolModel(messages=iter([]))},
        policies=[CapabilityFilter()],
    )
    decision = router.route(request(params={"tools": TOOLS}))
    assert decision.ranked == ["tools"]
    row = decision.explanation["candidates"][0]
    assert (row["removed_by"], row["reason"]) == ("capabilities", "no tool calling")


def test_capability_filter_checks_context_window() -> None:
    small = Target(name="small", model=fake_model(), context_window=600)
    large = Target(name="large", model=fake_model(), context_window=200_000)
    router = Router(MeshSettings(), targets={"small": small, "large": large}, policies=[CapabilityFilter()])
    assert router.route(request("short question about billing")).ranked == ["large"]
    assert router.route(request("short question", params={"max_tokens": 100})).ranked == ["small", "large"]


def test_capability_filter_matches_declared_language() -> None:
    english = Target(name="en-only", model=fake_model(), capabilities=frozenset({"lang:en"}))
    german = Target(name="de", model=fake_model(), capabilities=frozenset({"lang:de", "lang:en"}))
    anything = Target(name="multi", model=fake_model())
    targets: Targets = {"en-only": english, "de": german, "multi": anything}
    router = Router(MeshSettings(), targets=targets, policies=[CapabilityFilter()])
    german_text = "Können Sie mir bitte die Rechnung für März noch einmal zusenden?"
    assert router.route(request(german_text)).ranked == ["de", "multi"]
    assert router.route(request("Could you resend the March invoice to me, please?")).ranked == [
        "en-only",
        "de",
        "multi",
    ]
    assert router.route(request("short", tags=["lang:de"])).ranked == ["de", "multi"]


def test_cost_ceiling_removes_expensive_targets() -> None:
    targets: Targets = {
        "big": _priced("big", "gpt-4o"),
        "mini": _priced("mini", "gpt-4o-mini"),
        "local": fake_model(),
    }
    # 1000 output tokens: gpt-4o costs about $0.01, gpt-4o-mini about $0.0006.
    router = Router(MeshSettings(), targets=targets, policies=[CostCeiling(0.002)])
    decision = router.route(request(params={"max_tokens": 1000}))
    assert decision.ranked == ["mini", "local"]
    big = decision.explanation["candidates"][0]
    assert big["removed_by"] == "cost_ceiling"
    assert big["expected_cost_usd"] > 0.002
    strict = Router(MeshSettings(), targets=targets, policies=[CostCeiling(0.002, allow_unpriced=False)])
    assert strict.route(request(params={"max_tokens": 1000})).ranked == ["mini"]


def test_lowest_cost_ranks_unpriced_last() -> None:
    targets: Targets = {
        "local": fake_model(),
        "big": _priced("big", "gpt-4o"),
        "mini": _priced("mini", "gpt-4o-mini"),
    }
    router = Router(MeshSettings(), targets=targets, policies=[LowestExpectedCost()])
    decision = router.route(request())
    assert decision.ranked == ["mini", "big", "local"]
    assert decision.explanation["candidates"][0]["scores"]["lowest_cost"] is None


def test_lowest_latency_uses_health_ewma(clock: ManualClock) -> None:
    router = Router(
        MeshSettings(), targets={"slow": fake_model(), "fast": fake_model()}, policies=[LowestLatency()], clock=clock
    )
    for name, latency in [("slow", 2.0), ("fast", 0.3)]:
        router.health.acquire(name, "m", clock())
        router.health.record(
            name, "m", ok=True, latency_s=latency, counts_against_health=True, is_probe=False, now=clock()
        )
    decision = router.route(request())
    assert decision.ranked == ["fast", "slow"]
    assert decision.explanation["candidates"][0]["latency_ewma_s"] == pytest.approx(2.0)


def test_weighted_round_robin_follows_weights() -> None:
    targets: Targets = {
        "a": Target(name="a", model=fake_model(), weight=5),
        "b": Target(name="b", model=fake_model(), weight=1),
        "c": Target(name="c", model=fake_model(), weight=1),
    }
    router = Router(MeshSettings(), targets=targets, policies=[WeightedRoundRobin()])
    winners = [router.route(request()).chosen for _ in range(70)]
    assert Counter(winners) == {"a": 50, "b": 10, "c": 10}
    assert winners[:7].count("a") == 5
    assert "aaaaa" not in "".join(winners[:7])


def test_least_busy_prefers_fewest_calls_in_flight(clock: ManualClock) -> None:
    router = Router(MeshSettings(), targets={"a": fake_model(), "b": fake_model()}, policies=[LeastBusy()], clock=clock)
    router.health.acquire("a", "one", clock())
    router.health.acquire("a", "two", clock())
    router.health.acquire("b", "three", clock())
    assert router.route(request()).ranked == ["b", "a"]


def test_tenant_pinning_exclusive_and_preferred() -> None:
    targets: Targets = {"us": fake_model(), "eu-1": fake_model(), "eu-2": fake_model()}
    pins = {"bank": ["eu-2", "eu-1"]}
    exclusive = Router(MeshSettings(), targets=targets, policies=[TenantPinning(pins)])
    assert exclusive.route(request(tenant="bank")).ranked == ["eu-2", "eu-1"]
    assert exclusive.route(request(tenant="shop")).ranked == ["us", "eu-1", "eu-2"]
    preferred = Router(MeshSettings(), targets=targets, policies=[TenantPinning(pins, exclusive=False)])
    assert preferred.route(request(tenant="bank")).ranked == ["eu-2", "eu-1", "us"]


def test_budget_downgrade_switches_when_budget_nears_limit() -> None:
    used = {"acme": 0.5}
    targets: Targets = {
        "big": _priced("big", "gpt-4o"),
        "mini": _priced("mini", "gpt-4o-mini"),
    }
    router = Router(
        MeshSettings(), targets=targets, policies=[BudgetAwareDowngrade(lambda tenant: used[tenant], threshold=0.8)]
    )
    assert router.route(request()).ranked == ["big", "mini"]
    used["acme"] = 0.85
    decision = router.route(request())
    assert decision.ranked == ["mini", "big"]
    assert decision.explanation["budget_fraction_used"] == 0.85


def test_budget_downgrade_from_settings_uses_router_gauge() -> None:
    class Gauge:
        def fraction_used(self, tenant: str) -> float:
            return 0.95 if tenant == "acme" else 0.1

    settings = mesh_settings(
        routing={"policies": [{"kind": "budget_downgrade", "threshold": 0.9, "targets": ["small"]}]}
    )
    router = Router(settings, targets={"large": fake_model(), "small": fake_model()}, budget=Gauge())
    assert router.route(request(tenant="acme")).ranked == ["small", "large"]
    assert router.route(request(tenant="other")).ranked == ["large", "small"]


def test_rules_match_agent_tags_and_size() -> None:
    rules = [
        RuleSettings(name="legal", tags_any=["contract"], targets=["big"]),
        RuleSettings(name="triage", agents=["triage"], targets=["mini"]),
        RuleSettings(name="long", min_input_tokens=200, targets=["big"]),
    ]
    targets: Targets = {"mini": fake_model(), "big": fake_model(), "local": fake_model()}
    router = Router(MeshSettings(), targets=targets, policies=[Rules(rules)])
    assert router.route(request(tags=["contract"])).ranked == ["big", "mini", "local"]
    assert router.route(request(agent="triage")).ranked == ["mini", "big", "local"]
    assert router.route(request("word " * 400)).ranked == ["big", "mini", "local"]
    assert router.route(request()).ranked == ["mini", "big", "local"]


def test_earlier_ranking_policy_wins_and_later_breaks_ties(clock: ManualClock) -> None:
    targets: Targets = {"a": fake_model(), "b": fake_model(), "c": fake_model()}
    rules = [RuleSettings(name="prefer-a", tags_any=["x"], targets=["a"])]
    router = Router(
        MeshSettings(),
        targets=targets,
        policies=[TenantPinning({"*": ["b", "c", "a"]}, exclusive=False), LowestLatency()],
        clock=clock,
    )
    for name, latency in [("a", 0.1), ("b", 0.9), ("c", 0.5)]:
        router.health.acquire(name, "m", clock())
        router.health.record(
            name, "m", ok=True, latency_s=latency, counts_against_health=True, is_probe=False, now=clock()
        )
    assert router.route(request()).ranked == ["b", "c", "a"]
    tie_broken = Router(
        MeshSettings(), targets=targets, policies=[Rules(rules), LowestLatency()], health=router.health, clock=clock
    )
    # The rule ranks a first and ties b with c; latency then puts c (0.5 s) before b (0.9 s).
    assert tie_broken.route(request(tags=["x"])).ranked == ["a", "c", "b"]


def test_policies_from_settings_run_in_order() -> None:
    settings = mesh_settings(
        routing={
            "policies": [
                {"kind": "capabilities"},
                {"kind": "cost_ceiling", "max_cost_usd": 0.002},
                {"kind": "lowest_cost"},
            ]
        }
    )
    targets: Targets = {
        "big": _priced("big", "gpt-4o"),
        "local": fake_model(),
        "mini": _priced("mini", "gpt-4o-mini"),
    }
    decision = Router(settings, targets=targets).route(request(params={"max_tokens": 1000}))
    assert decision.explanation["policies"] == ["capabilities", "cost_ceiling", "lowest_cost"]
    assert decision.ranked == ["mini", "local"]


def test_open_circuit_removed_unless_all_open(clock: ManualClock) -> None:
    router = Router(
        mesh_settings(routing={"health": {"failure_threshold": 1}}),
        targets={"a": fake_model(), "b": fake_model()},
        clock=clock,
    )
    router.health.acquire("a", "m", clock())
    router.health.record("a", "m", ok=False, latency_s=1, counts_against_health=True, is_probe=False, now=clock())
    decision = router.route(request())
    assert decision.ranked == ["b"]
    assert decision.explanation["candidates"][0]["removed_by"] == "circuit_breaker"
    router.health.acquire("b", "m", clock())
    router.health.record("b", "m", ok=False, latency_s=1, counts_against_health=True, is_probe=False, now=clock())
    assert router.route(request()).ranked == ["a", "b"]
