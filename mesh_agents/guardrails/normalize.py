"""Undo the obfuscations that hide an injection from pattern rules.

``views(text)`` returns the text in several normalised forms, each with a map from
its characters back to offsets in the original, so that a rule match in any view
becomes a span of the original text:

- ``plain``: invisible characters removed (zero-width, bidi controls, soft hyphen),
  compatibility forms folded (NFKD, so full-width letters and ligatures become
  ASCII), diacritics dropped, confusable Cyrillic and Greek letters mapped to Latin
  when the text is mostly Latin, lower case.
- ``leet``: ``plain`` with digits and symbols inside words read as letters
  (``1gn0r3`` -> ``ignore``), only when the text has such words.
- ``tags``: Unicode tag characters (U+E0020 to U+E007E) decoded to the ASCII they
  shadow, a way to hide instructions that renders as nothing.
- ``base64``, ``hex``, ``url``, ``html``: blobs decoded and rescanned; their spans map
  to the whole blob.
- ``rot13`` and ``reversed``: only when the text mentions ROT13 or reversing.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass

__all__ = ["TextView", "has_invisible", "is_disguised", "views"]

# Zero-width characters, bidi embeddings, overrides and isolates, the soft hyphen and
# the word joiner family: none renders as a visible glyph inside Latin text.
_INVISIBLE = frozenset(
    [
        *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E),
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        0xFEFF,
    ]
)
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F

# Cyrillic and Greek letters that render like Latin ones (a subset of Unicode's
# confusables.txt, lower and upper case).
_CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h",
    "ԛ": "q", "ԝ": "w", "ո": "n", "ս": "u",
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t",
    "У": "y", "Х": "x", "І": "i", "Ј": "j", "Ѕ": "s",
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "ι": "i", "κ": "k", "ε": "e",
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n", "Ο": "o",
    "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
}  # fmt: skip
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
_LEET_WORD = re.compile(r"(?<![\w@$!|])(?=[\w@$!|]*[a-z])(?=[\w@$!|]*[013457@$!|])[a-z013457@$!|]{3,}(?![\w@$!|])")
_BASE64_BLOB = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_BASE64URL_BLOB = re.compile(r"(?<![A-Za-z0-9_\-=])[A-Za-z0-9_\-]{20,}={0,2}(?![A-Za-z0-9_\-=])")
_HEX_BLOB = re.compile(r"(?<![0-9a-fA-F])(?:(?:\\x|0x)?[0-9a-fA-F]{2}[\s:,-]?){8,}")
_URL_ESCAPES = re.compile(r"(?:%[0-9a-fA-F]{2}[^\s%]{0,3}){4,}")
_HTML_ENTITIES = re.compile(r"&(?:#\d{2,7}|#x[0-9a-fA-F]{2,6}|[a-zA-Z]{2,10});")
# Characters kept on each side of a changed word in the leet and despaced views.
_EXCERPT_CONTEXT = 300
# Six or more single letters separated by spaces, such as "s h o w   m e".
_SPACED_RUN = re.compile(r"(?<!\w)(?:\w {1,3}){5,}\w(?!\w)")
_MENTIONS_ROT13 = re.compile(r"rot[\s_-]?13|caesar", re.IGNORECASE)
_MENTIONS_REVERSE = re.compile(
    r"revers|backwards|rückwärts|a l'envers|al rev[eé]s|od ty[łl]u|al contrario", re.IGNORECASE
)


@dataclass(frozen=True)
class TextView:
    """One normalised form of a text.

    Attributes:
        kind: ``plain``, ``leet``, ``tags``, ``base64``, ``hex``, ``url``, ``html``,
            ``rot13`` or ``reversed``.
        text: The normalised text, lower case.
        origin: For each character of ``text``, its offset in the original text.
        decoded: Whether the view is a decoded payload rather than the text itself.
        blob: For a decoded blob, its ``(start, end)`` in the original text; every
            match in the view maps to the whole blob.
    """

    kind: str
    text: str
    origin: tuple[int, ...]
    decoded: bool = False
    blob: tuple[int, int] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map ``text[start:end]`` back to a ``(start, end)`` span of the original text."""
        if self.blob is not None:
            return self.blob
        if not self.origin:
            return (0, 0)
        chunk = self.origin[start:end] or (self.origin[min(start, len(self.origin) - 1)],)
        return (min(chunk), max(chunk) + 1)


def is_disguised(char: str) -> bool:
    """Return whether ``char`` is invisible or a non-Latin letter that looks like a Latin one."""
    code = ord(char)
    return code in _INVISIBLE or _TAG_FIRST <= code <= _TAG_LAST or char in _CONFUSABLES


def has_invisible(text: str) -> bool:
    """Return whether ``text`` contains zero-width, bidi-control or tag characters."""
    return any(ord(char) in _INVISIBLE or _TAG_FIRST <= ord(char) <= _TAG_LAST for char in text)


def views(text: str, *, max_blobs: int = 16) -> list[TextView]:
    """Return the normalised views of ``text`` that rules should scan, ``plain`` first."""
    plain = _plain(text)
    result = [plain]
    leet = _leet(plain)
    if leet is not None:
        result.append(leet)
    despaced = _despaced(plain)
    if despaced is not None:
        result.append(despaced)

    # Hidden payloads: tag characters spell ASCII that renders as nothing.
    tags = _tags(text)
    if tags is not None:
        result.append(tags)

    # Encoded blobs, decoded and normalised again; a decoded span is the whole blob.
    blobs = 0
    for kind, start, end, decoded in _decoded_blobs(text):
        if blobs >= max_blobs:
            break
        blobs += 1
        inner = _plain(decoded)
        result.append(TextView(kind, inner.text, inner.origin, decoded=True, blob=(start, end)))

    if _MENTIONS_ROT13.search(text):
        result.append(TextView("rot13", codecs.decode(plain.text, "rot13"), plain.origin, decoded=True))
    if _MENTIONS_REVERSE.search(text):
        result.append(TextView("reversed", plain.text[::-1], plain.origin[::-1], decoded=True))
    return result


def _plain(text: str) -> TextView:
    mostly_latin = _latin_share(text) >= 0.5
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        code = ord(char)
        if code < 128 and char != "\\" and (not index or text[index - 1] != "\\"):
            chars.append(char.lower())
            origin.append(index)
            continue
        if code in _INVISIBLE or _TAG_FIRST <= code <= _TAG_LAST:
            continue
        # Escaped newlines and tabs of JSON or code would glue words together ("\\nIgnore").
        if char == "\\" and text[index + 1 : index + 2] in ("n", "t", "r"):
            chars.append(" ")
            origin.append(index)
            continue
        if char in "ntr" and index and text[index - 1] == "\\" and (index < 2 or text[index - 2] != "\\"):
            chars.append(" ")
            origin.append(index)
            continue
        if mostly_latin and char in _CONFUSABLES:
            folded = _CONFUSABLES[char]
        else:
            folded = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            folded = folded.lower()
        for out in folded:
            chars.append(out)
            origin.append(index)
    return TextView("plain", "".join(chars), tuple(origin))


def _latin_share(text: str) -> float:
    latin = other = 0
    for char in text:
        if char.isalpha():
            if char.isascii() or "LATIN" in unicodedata.name(char, ""):
                latin += 1
            else:
                other += 1
    return latin / (latin + other) if latin + other else 1.0


def _leet(plain: TextView) -> TextView | None:
    words = list(_LEET_WORD.finditer(plain.text))
    if not words:
        return None
    chars = list(plain.text)
    for match in words:
        for index in range(match.start(), match.end()):
            chars[index] = _LEET.get(chars[index], chars[index])
    return _excerpts("leet", "".join(chars), plain.origin, [match.span() for match in words])


def _excerpts(kind: str, text: str, origin: tuple[int, ...], spans: list[tuple[int, int]]) -> TextView:
    """Keep only the parts of a view around ``spans``, so rules rescan little of a long text twice."""
    if len(text) <= 4 * _EXCERPT_CONTEXT:
        return TextView(kind, text, origin, decoded=True)
    merged: list[list[int]] = []
    for start, end in spans:
        start, end = max(start - _EXCERPT_CONTEXT, 0), min(end + _EXCERPT_CONTEXT, len(text))
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    mapped: list[int] = []
    for start, end in merged:
        if parts:
            # A line break between excerpts stops rules that do not cross lines from joining them.
            parts.append("\n")
            mapped.append(origin[start])
        parts.append(text[start:end])
        mapped.extend(origin[start:end])
    return TextView(kind, "".join(parts), tuple(mapped), decoded=True)


def _despaced(plain: TextView) -> TextView | None:
    """Join letters written one space apart ("i g n o r e"); a wider gap stays a word boundary."""
    if len(_SPACED_RUN.findall(plain.text)) == 0:
        return None
    chars: list[str] = []
    origin: list[int] = []
    cursor = 0
    for match in _SPACED_RUN.finditer(plain.text):
        chars.extend(plain.text[cursor : match.start()])
        origin.extend(plain.origin[cursor : match.start()])
        for offset, char in enumerate(match.group()):
            index = match.start() + offset
            previous = plain.text[index - 1] if index else ""
            following = plain.text[index + 1 : index + 2]
            if char == " " and previous != " " and following != " ":
                continue
            chars.append(" " if char == " " else char)
            origin.append(plain.origin[index])
        cursor = match.end()
    chars.extend(plain.text[cursor:])
    origin.extend(plain.origin[cursor:])
    collapsed = re.sub(r" {2,}", " ", "".join(chars))
    if collapsed == "".join(chars):
        return TextView("despaced", collapsed, tuple(origin), decoded=True)
    # Recompute origins after collapsing runs of spaces.
    text = "".join(chars)
    kept = [i for i, char in enumerate(text) if not (char == " " and i and text[i - 1] == " ")]
    return TextView("despaced", "".join(text[i] for i in kept), tuple(origin[i] for i in kept), decoded=True)


def _tags(text: str) -> TextView | None:
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        code = ord(char)
        if 0xE0020 <= code <= 0xE007E:
            chars.append(chr(code - 0xE0000).lower())
            origin.append(index)
    if len(chars) < 4:
        return None
    return TextView("tags", "".join(chars), tuple(origin), decoded=True)


def _decoded_blobs(text: str) -> list[tuple[str, int, int, str]]:
    found: list[tuple[str, int, int, str]] = []
    seen: set[tuple[int, int]] = set()
    for pattern in (_BASE64_BLOB, _BASE64URL_BLOB):
        for match in pattern.finditer(text):
            if match.span() in seen:
                continue
            seen.add(match.span())
            decoded = _decode_base64(match.group())
            if decoded is not None:
                found.append(("base64", match.start(), match.end(), decoded))
    for match in _HEX_BLOB.finditer(text):
        digits = re.sub(r"\\x|0x|[\s:,-]", "", match.group())
        decoded = _printable(_safe_unhex(digits))
        if decoded is not None:
            found.append(("hex", match.start(), match.end(), decoded))
    for match in _URL_ESCAPES.finditer(text):
        found.append(("url", match.start(), match.end(), urllib.parse.unquote(match.group())))
    if len(_HTML_ENTITIES.findall(text)) >= 4:
        found.append(("html", 0, len(text), html.unescape(text)))
    return found


def _decode_base64(blob: str) -> str | None:
    stripped = blob.rstrip("=")
    # Identifiers and plain words also match the alphabet; real payloads mix cases and digits.
    if not (re.search(r"[a-z]", stripped) and re.search(r"[A-Z]", stripped)):
        return None
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _printable(raw)


def _safe_unhex(digits: str) -> bytes:
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        return bytes.fromhex(digits)
    except ValueError:
        return b""


def _printable(raw: bytes) -> str | None:
    """Return ``raw`` as text when it is mostly printable UTF-8 words, else None."""
    if len(raw) < 6:
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(1 for char in decoded if char.isprintable() or char in "\n\t")
    letters = sum(1 for char in decoded if char.isalpha() or char == " ")
    if printable / len(decoded) < 0.95 or letters / len(decoded) < 0.6:
        return None
    return decoded
