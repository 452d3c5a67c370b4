"""Latency of the input guardrails per text: rules alone, and rules plus the embedding classifier.

Usage: python benchmarks/guardrails.py [--short-runs 200] [--long-runs 40]

Each run screens a different benign text (a counter makes every text unique) through
``GuardrailEngine.check``, which runs the injection and secrets guardrails in
parallel, once as a user prompt and once as a tool result. Benign text is the slow
path for user prompts: rules find nothing, so the classifier embeds every window.
A tool result without any rule hit is not embedded. Sizes: about 200 characters and
about 20 kB. The model loads before timing starts. Every mode and source screens the
same texts, so the second and later rows with the classifier may find some windows in
the vectorizer's embedding cache; the user rows run first and never do.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from mesh_agents.guardrails import GuardContext, GuardrailEngine
from mesh_agents.settings import MeshSettings
from mesh_agents.types import Source

DATA = Path(__file__).parents[1] / "tests" / "data" / "guardrails" / "dev.jsonl"


def benign_corpus() -> str:
    """Benign tool results and requests from the data file, joined, as material for test texts."""
    texts = []
    with DATA.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["label"] == "benign" and row["kind"] in ("normal_tool_result", "normal_request"):
                texts.append(row["text"])
    return "\n\n".join(texts)


def make_text(corpus: str, size: int, index: int) -> str:
    start = (index * 7919) % max(len(corpus) - size, 1)
    return f"[{index}] " + corpus[start : start + size]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def measure(
    engine: GuardrailEngine, corpus: str, size: int, runs: int, offset: int, source: Source
) -> tuple[float, float, int]:
    """Return p50 and p99 in milliseconds, and how many of the benign texts were not allowed."""
    context = GuardContext(tenant="bench")
    timings = []
    flagged = 0
    for index in range(runs):
        text = make_text(corpus, size, offset + index)
        started = time.perf_counter()
        report = engine.check(text, source, context)
        timings.append((time.perf_counter() - started) * 1000)
        flagged += report.action.value != "allow"
    return statistics.median(timings), percentile(timings, 0.99), flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short-runs", type=int, default=200, help="Texts of about 200 characters per mode.")
    parser.add_argument("--long-runs", type=int, default=40, help="Texts of about 20 kB per mode.")
    args = parser.parse_args()

    corpus = benign_corpus()
    while len(corpus) < 60_000:
        corpus += "\n\n" + corpus
    modes = {
        "rules": MeshSettings(guardrails={"injection": {"classifier": {"enabled": False}}}),
        "rules+classifier": MeshSettings(),
    }
    print(f"python {platform.python_version()}, {platform.machine()}, cpus={__import__('os').cpu_count()}")
    print("| mode | source | text size | runs | p50 ms | p99 ms | not allowed |")
    print("|---|---|---|---|---|---|---|")
    for mode, settings in modes.items():
        engine = GuardrailEngine(settings)
        engine.warm_up()
        for source in (Source.USER, Source.TOOL_RESULT):
            for size, runs in ((200, args.short_runs), (20_000, args.long_runs)):
                # The same texts for every mode and source, so the rows compare like with like.
                offset = 0 if size == 200 else args.short_runs
                p50, p99, flagged = measure(engine, corpus, size, runs, offset, source)
                row = f"| {mode} | {source.value} | {size:,} chars | {runs} | {p50:.1f} | {p99:.1f} | {flagged} |"
                print(row, flush=True)
        engine.close()


if __name__ == "__main__":
    main()
