"""Placeholders: their shape, restoring them in text, and restoring them in a stream.

A placeholder is ``<TAG_N>``: ``TAG`` is the entity label in upper case (``PERSON``,
``IP_ADDRESS``) and ``N`` counts the distinct values of that label in one session. The
shape contains no ``<`` or ``>`` inside, so a match can never straddle two placeholders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

__all__ = [
    "MAX_PLACEHOLDER_CHARS",
    "PLACEHOLDER",
    "Lookup",
    "StreamRestorer",
    "json_escape",
    "placeholder_tag",
    "restore_placeholders",
]

#: Maximum placeholder length: a 40-character tag, ``_``, up to 12 digits and the brackets.
MAX_PLACEHOLDER_CHARS = 55

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]{0,39}_[1-9][0-9]{0,11}>")

# A text that is the start of a placeholder: ``<``, ``<PER``, ``<PERSON_1``.
_PARTIAL = re.compile(r"<(?:[A-Z][A-Z0-9_]*)?")

#: Maps placeholders to their values; unknown or expired placeholders are left out.
Lookup = Callable[[Iterable[str]], dict[str, str]]


def placeholder_tag(label: str) -> str:
    """Return the placeholder tag of a label: ``"ip_address"`` -> ``"IP_ADDRESS"``."""
    tag = re.sub(r"[^A-Z0-9_]", "_", label.upper())[:40]
    return tag if tag[:1].isalpha() else f"X{tag}"[:40]


def json_escape(value: str) -> str:
    """Return ``value`` escaped for the inside of a JSON string literal."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def restore_placeholders(text: str, lookup: Lookup, *, escape: Callable[[str], str] | None = None) -> tuple[str, int]:
    """Replace every known placeholder in ``text`` by its value, in one pass.

    Values put back are not scanned again, so a value that itself looks like a
    placeholder stays as it is. Unknown placeholders stay in the text. ``escape``
    transforms each value first; ``json_escape`` keeps raw JSON text valid when a
    value contains a quote or a backslash.

    Returns:
        The restored text and the number of placeholders replaced.
    """
    found = {match.group() for match in PLACEHOLDER.finditer(text)}
    if not found:
        return text, 0
    values = lookup(found)
    if not values:
        return text, 0
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        value = values.get(match.group())
        if value is None:
            return match.group()
        count += 1
        return escape(value) if escape is not None else value

    return PLACEHOLDER.sub(replace, text), count


def _pending_start(text: str) -> int:
    """Return where an incomplete placeholder may begin at the end of ``text``, or ``len(text)``."""
    start = text.rfind("<", max(0, len(text) - MAX_PLACEHOLDER_CHARS + 1))
    if start < 0:
        return len(text)
    if _PARTIAL.fullmatch(text, start):
        return start
    return len(text)


class StreamRestorer:
    """Restores placeholders in a stream of text chunks.

    ``feed`` returns the restored text that is certain so far. It holds back only a
    trailing piece that could still grow into a placeholder (at most
    ``MAX_PLACEHOLDER_CHARS - 1`` characters, starting at a ``<``), so the response
    flows with at most one placeholder's delay. ``flush`` returns what is left at the
    end of the stream.

    Args:
        lookup: Maps placeholders to values.
        escape: Transforms each value before it is put back, such as ``json_escape``
            for the raw JSON of streamed tool-call arguments.

    Attributes:
        restored: Placeholders replaced so far.
    """

    def __init__(self, lookup: Lookup, *, escape: Callable[[str], str] | None = None) -> None:
        self._lookup = lookup
        self._escape = escape
        self._pending = ""
        self.restored = 0

    def feed(self, text: str) -> str:
        """Add a chunk and return the restored text that can be sent now."""
        if not text:
            return ""
        buffer = self._pending + text
        cut = _pending_start(buffer)
        self._pending = buffer[cut:]
        return self._restore(buffer[:cut])

    def flush(self) -> str:
        """Return the held-back rest at the end of the stream."""
        rest, self._pending = self._pending, ""
        return self._restore(rest)

    def _restore(self, text: str) -> str:
        if not text:
            return ""
        restored, count = restore_placeholders(text, self._lookup, escape=self._escape)
        self.restored += count
        return restored
