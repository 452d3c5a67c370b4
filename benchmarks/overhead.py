"""Measure the latency the mesh adds to one model call.

Each request is sent twice with the same messages: once to the stand-in model
directly, once through the mesh (``Mesh.invoke``, and the compiled mesh graph), with
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
import time
from collections.abc import Callable
from typing import Any

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
            text += f" Please reply to {person.lower().replace(' ', '.')}@example.com."
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

    def request(text: str, index: int) -> MeshRequest:
        return MeshRequest(messages=messages(text), tenant="bench", user="u1", session=f"s{index}")

    for index, text in enumerate(request_texts(args.warmup, offset=100_000)):
        mesh.invoke(request(text, index))
        result_from_state(run_mesh_graph(graph, request(text + " (graph)", index)))
    exporter.clear()

    direct: list[float] = []
    through_mesh: list[float] = []
    through_graph: list[float] = []
    for index, text in enumerate(request_texts(args.requests)):
        prompt = messages(text)
        mesh_request = request(text, index)
        graph_request = request(text + " Sent through the graph.", index)
        direct.append(timed(lambda prompt=prompt: model.invoke(prompt)))
        through_mesh.append(timed(lambda r=mesh_request: mesh.invoke(r)))
        through_graph.append(timed(lambda r=graph_request: result_from_state(run_mesh_graph(graph, r))))
    spans = len(exporter.get_finished_spans())

    added_mesh = [m - d for m, d in zip(through_mesh, direct, strict=True)]
    added_graph = [g - d for g, d in zip(through_graph, direct, strict=True)]
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"requests: {args.requests} measured after {args.warmup} warm-up, spans recorded: {spans}")
    print("| path | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|")
    for name, values in (
        ("stand-in model alone", direct),
        ("Mesh.invoke", through_mesh),
        ("mesh graph (compiled LangGraph)", through_graph),
        ("added by Mesh.invoke", added_mesh),
        ("added by the mesh graph", added_graph),
    ):
        p50, p99, mean = percentile(values, 0.5), percentile(values, 0.99), statistics.fmean(values)
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {mean:.2f} |")


if __name__ == "__main__":
    main()
