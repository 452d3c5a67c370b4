"""Commands in examples/README.md and in the Usage, Routing and Overhead docs run from the project's venv."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = [
    ("examples/README.md", None),
    ("docs/accuracy.md", "Usage"),
    ("docs/accuracy.md", "Routing"),
    ("docs/benchmarks.md", "Usage"),
    ("docs/benchmarks.md", "Overhead"),
]
_FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_COMMAND = re.compile(r"^(\S+=\S* )*\S*(python|mesh-agents)\b")
_RUNNABLE = re.compile(r"^(\S+=\S+ )*(\.venv/bin/\S+|bash scripts/\S+)( |$)")


def _section(text: str, title: str | None) -> str:
    if title is None:
        return text
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no '## {title}' section"
    return match.group(1)


@pytest.mark.parametrize(("path", "title"), SECTIONS, ids=[f"{p}:{t or 'all'}" for p, t in SECTIONS])
def test_documented_commands_use_the_venv(path: str, title: str | None) -> None:
    blocks = _FENCE.findall(_section((ROOT / path).read_text(encoding="utf-8"), title))
    commands = [line for block in blocks for line in block.splitlines() if _COMMAND.match(line)]
    assert commands, f"no command found in {path} {title or ''}"
    bare = [line for line in commands if not _RUNNABLE.match(line)]
    assert not bare, f"use .venv/bin/python or .venv/bin/mesh-agents in {path}: {bare}"
