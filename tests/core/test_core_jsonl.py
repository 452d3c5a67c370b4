"""The shared JSON Lines reader names the failing line and never quotes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_agents._jsonl import read_json_lines
from mesh_agents.errors import InvalidInputError


def test_reads_objects_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n{"a": 2}\n')
    assert read_json_lines(path, kind="data file", hint="{...}") == [(1, {"a": 1}), (3, {"a": 2})]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": 1}\n{"secret-text": \n', r"line 2 of .* is not valid JSON"),
        (b'{"a": 1}\n\xff\n', r"line 2 of .* is not UTF-8 text"),
        (b"\n \n", r"contains no records"),
    ],
)
def test_bad_file_names_the_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message) as caught:
        read_json_lines(path, kind="data file", hint="{...}")
    assert "secret-text" not in str(caught.value)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="is a directory"):
        read_json_lines(tmp_path, kind="data file", hint="{...}")
    with pytest.raises(InvalidInputError, match="not found"):
        read_json_lines(tmp_path / "nope.jsonl", kind="data file", hint="{...}")
