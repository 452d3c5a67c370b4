"""Reading JSON Lines data files (evaluation sets, request pairs) with errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mesh_agents.errors import InvalidInputError

__all__ = ["read_json_lines"]


def read_json_lines(path: str | Path, *, kind: str, hint: str) -> list[tuple[int, Any]]:
    """Return ``(line number, parsed value)`` for every non-blank line of a UTF-8 JSON Lines file.

    Args:
        path: The file.
        kind: What the file is, for messages (``"evaluation file"``).
        hint: The expected shape of one line, appended to the messages that ask for a fix.

    Raises:
        InvalidInputError: the path is missing, is a directory or cannot be read, the
            file has no non-blank line, or a line is not UTF-8 or not valid JSON. The
            message names the line and never quotes its text.
    """
    file = Path(path)
    name = str(file)
    if file.is_dir():
        raise InvalidInputError(f"{kind} {name!r} is a directory: pass one .jsonl file inside it")
    if not file.is_file():
        raise InvalidInputError(f"{kind} {name!r} not found: check the path")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {kind} {name!r} ({exc.strerror}): check its permissions") from None

    rows: list[tuple[int, Any]] = []
    # Split on bytes, so that a line that is not UTF-8 can be named.
    for number, raw_line in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw_line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"line {number} of {name!r} is not UTF-8 text (byte 0x{raw_line[exc.start]:02x} at byte "
                f"{exc.start + 1} of the line): save the file as UTF-8",
                details={"line": number},
            ) from None
        line = line.strip()
        if not line:
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"line {number} of {name!r} is not valid JSON ({exc.msg} at column {exc.colno}): "
                f"write one JSON object per line, {hint}",
                details={"line": number},
            ) from None
    if not rows:
        raise InvalidInputError(f"{kind} {name!r} contains no records: write one JSON object per line, {hint}")
    return rows
