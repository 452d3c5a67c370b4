"""Measure the latency the mesh adds to one model call.

Each request is sent three times with the same messages: once to the stand-in model
directly, once through ``Mesh.invoke`` and once through the compiled mesh graph, with
the stand-in's own latency set to 0 so the difference is the pipeline alone. The
settings are the defaults for one machine: pattern redaction only, in-memory cache,
vault, budgets and ledger, and the default guardrails. Every request is new text, so
the cache lookup misses (the embedding of the request is part of the cost). Tracing is
on: an SDK tracer provider with an in-memory exporter records every span.

Run:  python benchmarks/overhead.py [--requests 300] [--warmup 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run from a checkout without installing: the repository root holds mesh_agents and graphs.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TOPICS = [
    "the invoice for order {n}",
    "a refund of {n} EUR to my card",
    "resetting the password of user {n}",
    "the CSV export of report {n}",
    "adding {n} seats to our plan",
    "the SSO error code {n}",
    "ticket T-{n} that is still open",
    "the API rate limit of project {n}",
]
PERSONS = ["Anna Keller", "Hugo Laurent", "Mateo Ortega", "Priya Nair"]


def request_texts(count: int, offset: int = 0) -> list[str]:
    """Return ``count`` distinct requests, a third of them with an e-mail address to mask."""
    texts = []
    for index in range(offset, offset + count):
        topic = TOPICS[index % len(TOPICS)].format(n=1000 + index)
        text = f"Hello, I have a question about {topic}. Can you help me with request {index}?"
        if index % 3 == 0:
            person = PERSONS[index % len(PERSONS)]
            text += f" My name is {person} and my e-mail is {person.lower().replace(' ', '.')}@example.com."
        texts.append(text)
    return texts


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="Measured requests per path.")
    parser.add_argument("--warmup", type=int, default=30, help="Requests sent first and not measured.")
    args = parser.parse_args()

    from langchain_core.messages import HumanMessage, SystemMessage
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from graphs.builder import build_mesh_graph, result_from_state, run_mesh_graph
    from mesh_agents.errors import GuardrailBlocked
    from mesh_agents.mesh import Mesh
    from mesh_agents.models import StandInChatModel
    from mesh_agents.settings import MeshSettings
    from mesh_agents.types import MeshRequest

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    model = StandInChatModel(model_name="small")
    mesh = Mesh(MeshSettings(), targets={"small": model})
    graph = build_mesh_graph(mesh)
    system = SystemMessage("You are the support agent of a software company. Answer briefly.")

    def messages(text: str) -> list[Any]:
        return [system, HumanMessage(text)]

    # Each path has its own tenant, so neither reads the cache entries of the other.
    def request(text: str, index: int, tenant: str = "bench") -> MeshRequest:
        return MeshRequest(messages=messages(text), tenant=tenant, user="u1", session=f"s{index}")

    def through_mesh_path(r: MeshRequest) -> Any:
        return mesh.invoke(r)

    def through_graph_path(r: MeshRequest) -> Any:
        return result_from_state(run_mesh_graph(graph, r))

    for index, text in enumerate(request_texts(args.warmup, offset=100_000)):
        for path, tenant in ((through_mesh_path, "bench"), (through_graph_path, "bench-graph")):
            try:
                path(request(text, index, tenant))
            except GuardrailBlocked:
                pass
    exporter.clear()

    # A request that a guardrail blocks never reaches the model, so its time is not an
    # overhead figure; such requests are counted and left out. The graph gets texts of its
    # own because the vectorizer keeps an LRU of embeddings: a text embedded once is
    # embedded for free the second time, which would favour whichever path runs second.
    direct: dict[str, list[float]] = {"mesh": [], "graph": []}
    totals: dict[str, list[float]] = {"mesh": [], "graph": []}
    blocked = 0
    paths = {"mesh": (through_mesh_path, "bench", 0), "graph": (through_graph_path, "bench-graph", 500_000)}
    for index in range(args.requests):
        for name, (path, tenant, offset) in paths.items():
            text = request_texts(1, offset=offset + index)[0]
            mesh_request = request(text, index, tenant)
            try:
                total_ms = timed(lambda: path(mesh_request))  # noqa: B023 - called before the loop moves on
            except GuardrailBlocked:
                blocked += 1
                continue
            prompt = messages(text)
            direct[name].append(timed(lambda: model.invoke(prompt)))  # noqa: B023 - same
            totals[name].append(total_ms)
    finished = exporter.get_finished_spans()
    step_ms: dict[str, list[float]] = {}
    for span in finished:
        if span.start_time is not None and span.end_time is not None:
            step_ms.setdefault(span.name, []).append((span.end_time - span.start_time) / 1e6)

    added_mesh = [t - d for t, d in zip(totals["mesh"], direct["mesh"], strict=True)]
    added_graph = [t - d for t, d in zip(totals["graph"], direct["graph"], strict=True)]
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"requests: {args.requests} per path after {args.warmup} warm-up; {blocked} blocked by a guardrail, left out")
    print(f"spans recorded: {len(finished)}")
    print("| path | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|")
    for name, values in (
        ("stand-in model alone", direct["mesh"] + direct["graph"]),
        ("Mesh.invoke", totals["mesh"]),
        ("mesh graph (compiled LangGraph)", totals["graph"]),
        ("added by Mesh.invoke", added_mesh),
        ("added by the mesh graph", added_graph),
    ):
        p50, p99, mean = percentile(values, 0.5), percentile(values, 0.99), statistics.fmean(values)
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {mean:.2f} |")

    print()
    print("| span (both paths) | count | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, values in sorted(step_ms.items(), key=lambda item: -statistics.median(item[1])):
        print(f"| {name} | {len(values)} | {percentile(values, 0.5):.2f} | {percentile(values, 0.99):.2f} |")


if __name__ == "__main__":
    main()
