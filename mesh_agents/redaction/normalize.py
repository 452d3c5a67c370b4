"""A normalised view of a text for detection, with offsets that map back to the original.

Personal data can be written so that it escapes patterns while a reader still sees it:
full-width letters (``ＪＯＨＮ＠ＥＸＡＭＰＬＥ．ＣＯＭ``), a zero-width space inside an
address, a bidi control around a number. Detectors therefore read the NFKC form of the
text with zero-width and bidi control characters removed. Every entity they report is
mapped back to the original characters, and those are masked and kept in the vault, so
restoring stays exact.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["INVISIBLE", "NormalizedText", "normalize_for_detection"]

#: Characters removed from the detection view: zero-width and other invisible format
#: characters (joiners, fillers, invisible operators), the soft hyphen, the byte order
#: mark and the Unicode bidi controls.
INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)

_ASCII_RUN = re.compile(r"[\x00-\x7f]+")


@dataclass(frozen=True)
class NormalizedText:
    """The detection view of a text.

    Attributes:
        text: The view: NFKC, without the ``INVISIBLE`` characters.
        starts: For each character of ``text``, where its source begins in the original;
            empty when the view is the original text itself.
        ends: For each character of ``text``, where its source ends in the original.
    """

    text: str
    starts: tuple[int, ...] = ()
    ends: tuple[int, ...] = ()

    @property
    def is_identity(self) -> bool:
        """Whether the view is the original text, so offsets need no mapping."""
        return not self.starts and not self.ends

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Return the span of the original text that view span ``start:end`` came from.

        A span that starts or ends inside the expansion of one original character
        (``ﬁ`` gives ``fi``) is widened to that whole character.
        """
        if self.is_identity:
            return start, end
        return self.starts[start], self.ends[end - 1]


def normalize_for_detection(text: str) -> NormalizedText:
    """Return the detection view of ``text``; an ASCII or already clean text is its own view."""
    if text.isascii() or (unicodedata.is_normalized("NFKC", text) and INVISIBLE.isdisjoint(text)):
        return NormalizedText(text)

    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    length = len(text)
    while position < length:
        # ASCII is its own NFKC form, so runs of it are copied whole, except a last
        # character that a combining mark follows.
        run = _ASCII_RUN.match(text, position)
        if run is not None:
            end = run.end()
            if end < length and unicodedata.combining(text[end]):
                end -= 1
            if end > position:
                parts.append(text[position:end])
                starts += range(position, end)
                ends += range(position + 1, end + 1)
                position = end
                continue
        if text[position] in INVISIBLE:
            position += 1
            continue
        # A character and the combining marks after it form one unit, so that NFKC can
        # compose them ("e" + U+0301 gives "é") while each unit keeps its own offsets.
        # NOTE: compositions across units (Hangul jamo into syllables) are not made.
        end = position + 1
        while end < length and unicodedata.combining(text[end]) and text[end] not in INVISIBLE:
            end += 1
        unit = unicodedata.normalize("NFKC", text[position:end])
        unit = "".join(character for character in unit if character not in INVISIBLE)
        parts.append(unit)
        starts += [position] * len(unit)
        ends += [end] * len(unit)
        position = end
    return NormalizedText("".join(parts), tuple(starts), tuple(ends))
