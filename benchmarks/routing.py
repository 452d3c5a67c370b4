"""Routing benchmarks: the cost of one decision, and a fault-injection run of the retry loop.

Run from the repository root::

    python benchmarks/routing.py                 # both parts
    python benchmarks/routing.py --part decision # route() p50/p99, with and without a semantic route
    python benchmarks/routing.py --part faults   # 500 requests, one flaky target, one that times out

The fault run plays the mesh's role around ``Router.route`` and ``Router.plan``:
it sleeps the attempts' ``delay_s`` on a simulated clock, calls LangChain chat
models that fail on purpose, and reports each outcome back to the plan. Nothing
really sleeps, so the run is deterministic for a seed and takes about a second.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mesh_agents.routing import Router, RoutingSettings, WeightedRoundRobin  # noqa: E402
from mesh_agents.settings import MeshSettings  # noqa: E402
from mesh_agents.types import MeshRequest  # noqa: E402

EXAMPLES = ROOT / "examples" / "data" / "routing_examples.jsonl"


class SimulatedClock:
    """Unix seconds that move only when the simulation advances them."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class UpstreamUnavailable(Exception):
    """Shaped like a provider SDK's 503 error: the status code sits on the exception."""

    status_code = 503


class ScriptedChatModel(BaseChatModel):
    """A chat model whose latency and failures a script decides; it advances the simulated clock.

    ``script`` returns the call's latency in seconds, or raises to fail the call.
    """

    script: Any
    label: str = "scripted"

    @property
    def _llm_type(self) -> str:
        return f"scripted-{self.label}"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.script()
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=f"answer from {self.label}"))])


@dataclass
class FaultReport:
    """Figures of one fault-injection run; times are simulated seconds."""

    requests: int = 0
    user_visible_errors: int = 0
    attempts: int = 0
    retries: int = 0
    fallbacks: int = 0
    skipped_open: int = 0
    routed_around_open: int = 0
    requests_with_failures: int = 0
    served: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    breaker_opened: dict[str, int] = field(default_factory=dict)
    final_state: dict[str, str] = field(default_factory=dict)
    served_by_slow_after_outage: int = 0
    time_added_s: list[float] = field(default_factory=list)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.time_added_s)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def run_fault_injection(requests: int = 500, seed: int = 7) -> FaultReport:
    """Send ``requests`` through the router's plan loop with injected faults.

    Targets: ``flaky`` fails 30% of its calls with a 503; ``slow`` hangs during an
    outage from 60 s to 160 s of simulated time, and each hang is cut at the 5 s
    attempt timeout; ``steady`` always succeeds. Weighted round robin spreads
    winners evenly, so every target is the first choice for about a third of the
    requests. A request arrives every 0.5 s.
    """
    clock = SimulatedClock()
    faults = random.Random(seed)
    start = clock()
    outage = (start + 60.0, start + 160.0)
    timeout_s = 5.0

    def flaky() -> None:
        clock.sleep(0.3)
        if faults.random() < 0.3:
            raise UpstreamUnavailable("upstream unavailable")

    def slow() -> None:
        if outage[0] <= clock() < outage[1]:
            clock.sleep(timeout_s)
            raise TimeoutError("attempt timed out")
        clock.sleep(0.2)

    def steady() -> None:
        clock.sleep(0.4)

    targets = {
        name: ScriptedChatModel(script=script, label=name)
        for name, script in [("flaky", flaky), ("slow", slow), ("steady", steady)]
    }
    settings = MeshSettings(
        routing=RoutingSettings.model_validate(
            {
                "max_retries": 2,
                "backoff_base_s": 0.2,
                "backoff_max_s": 2.0,
                "timeout_s": timeout_s,
                "health": {"cooldown_s": 10.0},
            }
        )
    )
    router = Router(settings, targets=targets, policies=[WeightedRoundRobin()], clock=clock, rng=random.Random(seed))
    report = FaultReport()

    for number in range(requests):
        clock.sleep(0.5)
        request = MeshRequest(messages=[HumanMessage(f"Status of ticket {number}?")], tenant="acme")
        decision = router.route(request)
        removed = [row["removed_by"] for row in decision.explanation["candidates"]]
        report.routed_around_open += 1 if "circuit_breaker" in removed else 0
        plan = router.plan(decision, request)
        answered = False

        # The mesh's role: wait the backoff, call, report the outcome.
        while (attempt := plan.next_attempt()) is not None:
            clock.sleep(attempt.delay_s)
            started = clock()
            name = attempt.target.name
            report.calls[name] += 1
            try:
                attempt.target.model.invoke(request.messages)
            except Exception as error:
                report.failures[name] += 1
                plan.record_failure(attempt, error, clock() - started)
                continue
            plan.record_success(attempt, clock() - started)
            report.served[name] += 1
            if name == "slow" and clock() >= outage[1]:
                report.served_by_slow_after_outage += 1
            answered = True
            break

        stats = plan.stats
        report.requests += 1
        report.user_visible_errors += 0 if answered else 1
        report.attempts += stats.attempts
        report.retries += stats.retries
        report.fallbacks += stats.fallbacks
        report.skipped_open += len(stats.skipped)
        report.requests_with_failures += 1 if stats.errors else 0
        report.time_added_s.append(stats.time_added_s)

    for name in targets:
        record = router.health.record_of(name)
        report.breaker_opened[name] = record.opened
        report.final_state[name] = record.state.value
    return report


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def bench_decision(
    iterations: int = 2000, embed_iterations: int = 200, redis_url: str | None = None
) -> dict[str, tuple[float, float, float]]:
    """Time ``Router.route`` alone, in milliseconds (wall p50, wall p99, CPU p50).

    Variants that embed a new text per call run ``embed_iterations`` times, because
    each call runs the embedding model.
    """
    from mesh_agents.embeddings import default_vectorizer
    from mesh_agents.routing.calibration import fit_routes, load_examples

    examples = load_examples(EXAMPLES)
    texts = [example.text for example in examples]
    targets = {name: ScriptedChatModel(script=lambda: None, label=name) for name in ("small", "large", "coder")}
    policies: list[dict[str, Any]] = [{"kind": "capabilities"}, {"kind": "lowest_latency"}]
    results: dict[str, tuple[float, float, float]] = {}

    plain = Router(MeshSettings(routing=RoutingSettings.model_validate({"policies": policies})), targets=targets)
    results["policies only (capabilities, lowest_latency)"] = _time_routes(plain, texts, iterations, unique=False)

    vectorizer = default_vectorizer()
    routes = [route.model_dump() for route in fit_routes(examples, vectorizer).to_routes()]
    semantic_policies = [*policies, {"kind": "semantic_routes", "routes": routes}]
    semantic = Router(
        MeshSettings(routing=RoutingSettings.model_validate({"policies": semantic_policies})),
        targets=targets,
        vectorizer=vectorizer,
    )
    results["+ semantic routes, memory index, repeated texts (embedding LRU hit)"] = _time_routes(
        semantic, texts, iterations, unique=False
    )
    results["+ semantic routes, memory index, unique texts (embedding computed)"] = _time_routes(
        semantic, texts, embed_iterations, unique=True
    )
    if redis_url:
        on_redis = Router(
            MeshSettings(redis_url=redis_url, routing=RoutingSettings.model_validate({"policies": semantic_policies})),
            targets=targets,
            vectorizer=vectorizer,
        )
        results["+ semantic routes, Redis index and health, repeated texts"] = _time_routes(
            on_redis, texts, iterations, unique=False
        )
        results["+ semantic routes, Redis index and health, unique texts"] = _time_routes(
            on_redis, texts, embed_iterations, unique=True
        )
    return results


def _time_routes(router: Router, texts: list[str], iterations: int, *, unique: bool) -> tuple[float, float, float]:
    """Return p50 and p99 wall time and p50 CPU time of ``route``, in milliseconds."""
    global _salt
    _salt += 1
    requests = [
        MeshRequest(
            messages=[HumanMessage(texts[i % len(texts)] + (f" (ref {_salt}-{i})" if unique else ""))], tenant="acme"
        )
        for i in range(iterations)
    ]
    for warm in requests[:20]:
        router.route(warm)
    wall, cpu = [], []
    for request in requests[20:]:
        started, started_cpu = time.perf_counter(), time.process_time()
        router.route(request)
        wall.append((time.perf_counter() - started) * 1000.0)
        cpu.append((time.process_time() - started_cpu) * 1000.0)
    p50, p99 = _percentiles(wall)
    return p50, p99, _percentiles(cpu)[0]


# Makes every unique-text variant embed texts no earlier variant has put in the embedding LRU.
_salt = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["decision", "faults", "all"], default="all")
    parser.add_argument("--requests", type=int, default=500, help="Requests in the fault run.")
    parser.add_argument("--iterations", type=int, default=2000, help="route() calls per variant without embedding.")
    parser.add_argument("--embed-iterations", type=int, default=200, help="route() calls per variant that embeds.")
    parser.add_argument("--no-redis", action="store_true", help="Skip the Redis variant of the decision benchmark.")
    args = parser.parse_args()

    if args.part in ("faults", "all"):
        report = run_fault_injection(args.requests)
        print(f"## Fault injection: {report.requests} requests\n")
        print("| figure | value |\n|---|---|")
        rows = [
            ("user-visible errors", report.user_visible_errors),
            ("attempts", report.attempts),
            ("retries", report.retries),
            ("fallbacks", report.fallbacks),
            ("decisions that left out an open circuit", report.routed_around_open),
            ("targets skipped by the plan (circuit open)", report.skipped_open),
            ("requests that met a failure", report.requests_with_failures),
            ("calls per target", dict(report.calls)),
            ("failures per target", dict(report.failures)),
            ("answers per target", dict(report.served)),
            ("breaker openings per target", report.breaker_opened),
            ("breaker state at the end", report.final_state),
            ("answers from slow after its outage", report.served_by_slow_after_outage),
            ("time added, total (simulated s)", f"{sum(report.time_added_s):.1f}"),
            ("time added per request, mean (s)", f"{statistics.fmean(report.time_added_s):.3f}"),
            (
                "time added per request, p50 / p99 / max (s)",
                f"{report.percentile(0.5):.2f} / {report.percentile(0.99):.2f} / {max(report.time_added_s):.2f}",
            ),
        ]
        for label, value in rows:
            print(f"| {label} | {value} |")
        print()

    if args.part in ("decision", "all"):
        redis_url = None
        server = None
        if not args.no_redis:
            from mesh_agents.testing import RedisServer

            server = RedisServer().start()
            redis_url = server.url
        try:
            results = bench_decision(args.iterations, args.embed_iterations, redis_url)
        finally:
            if server is not None:
                server.stop()
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"## Router.route() latency ({os.cpu_count()} cores, load average {load} at the end)\n")
        print("| variant | p50 (ms) | p99 (ms) | CPU p50 (ms) |\n|---|---|---|---|")
        for label, (p50, p99, cpu) in results.items():
            print(f"| {label} | {p50:.3f} | {p99:.3f} | {cpu:.3f} |")


if __name__ == "__main__":
    main()
