"""Guardrails on model output: forbidden personal data, system-prompt leaks, and links off the allow-list.

The mesh screens the answer while it is still masked, so personal data the redactor
found appears as placeholders (``<EMAIL_1>``); the PII guardrail checks those and,
for values the model produced on its own, validated patterns (Luhn for cards, the
IBAN checksum through python-stdnum).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from mesh_agents.guardrails.base import Action, GuardContext, Verdict
from mesh_agents.guardrails.schema import GuardrailSettings, OutputSettings
from mesh_agents.redaction.patterns import PATTERN_LABELS, PatternDetector
from mesh_agents.types import Source

__all__ = [
    "PiiOutputGuardrail",
    "SystemPromptLeakGuardrail",
    "UrlGuardrail",
    "domain_allowed",
    "find_urls",
]

_OUTPUT = frozenset({Source.MODEL_OUTPUT})
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*?)_\d+>")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`)\]]+|\bwww\.[^\s<>\"'`)\]]+", re.IGNORECASE)
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]\n]{0,200}\]\(\s*(?P<url>[^)\s]+)[^)]*\)")
_WORDS = re.compile(r"\w+")


class PiiOutputGuardrail:
    """Blocks answers that contain personal data the policy forbids, as placeholders or as raw values."""

    name = "output_pii"
    sources = _OUTPUT

    def __init__(self, settings: OutputSettings) -> None:
        self.settings = settings
        self.forbidden = frozenset(label.upper() for label in settings.forbidden_pii)
        # Raw values are found by redaction's validated patterns (Luhn, IBAN and id check digits).
        self._detector = PatternDetector()
        self._raw_labels = [label.lower() for label in self.forbidden if label.lower() in PATTERN_LABELS]

    def check(self, text: str, source: Source, context: GuardContext) -> Verdict:
        if not self.forbidden:
            return Verdict(Action.ALLOW, self.name)
        spans: list[tuple[int, int]] = []
        labels: set[str] = set()
        for match in _PLACEHOLDER.finditer(text):
            if match.group(1) in self.forbidden:
                spans.append(match.span())
                labels.add(match.group(1))
        if self._raw_labels:
            for entity in self._detector.detect(text, self._raw_labels):
                spans.append((entity.start, entity.end))
                labels.add(entity.label.upper())
        if not spans:
            return Verdict(Action.ALLOW, self.name)
        return Verdict(
            Action(self.settings.pii_action), self.name, 1.0, f"forbidden_pii:{','.join(sorted(labels))}", tuple(spans)
        )


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORDS.findall(text))


class SystemPromptLeakGuardrail:
    """Blocks answers that echo the system prompt: a canary, a distinctive line, or a large share of its wording.

    Comparison is on case-folded words, so re-spacing or changing punctuation does not
    hide an echo. A line counts as distinctive when it has at least
    ``leak_min_line_chars`` characters; the overlap test counts the system prompt's
    8-word shingles that appear in the answer.
    """

    name = "system_prompt_leak"
    sources = _OUTPUT
    _SHINGLE = 8

    def __init__(self, settings: OutputSettings) -> None:
        self.settings = settings

    def check(self, text: str, source: Source, context: GuardContext) -> Verdict:
        answer = _fold(text)
        for canary in self.settings.canaries:
            if canary and canary.casefold() in text.casefold():
                return self._block("canary_echoed", text, canary)
        prompt = context.system_prompt
        if not self.settings.system_prompt_leak or not prompt or not answer:
            return Verdict(Action.ALLOW, self.name)

        for line in re.split(r"[\n.!?]+", prompt):
            folded = _fold(line)
            if len(folded) >= self.settings.leak_min_line_chars and folded in answer:
                return Verdict(Action.BLOCK, self.name, 1.0, "system_prompt_echoed")

        prompt_words = _fold(prompt).split()
        shingles = {tuple(prompt_words[i : i + self._SHINGLE]) for i in range(len(prompt_words) - self._SHINGLE + 1)}
        if shingles:
            answer_words = answer.split()
            seen = {tuple(answer_words[i : i + self._SHINGLE]) for i in range(len(answer_words) - self._SHINGLE + 1)}
            overlap = len(shingles & seen) / len(shingles)
            if overlap >= self.settings.leak_overlap:
                return Verdict(Action.BLOCK, self.name, overlap, "system_prompt_overlap")
        return Verdict(Action.ALLOW, self.name)

    def _block(self, reason: str, text: str, needle: str) -> Verdict:
        start = text.casefold().find(needle.casefold())
        return Verdict(Action.BLOCK, self.name, 1.0, reason, ((start, start + len(needle)),))


def find_urls(text: str) -> list[tuple[str, tuple[int, int], bool]]:
    """Return ``(url, span, is_markdown_image)`` for each link in ``text``."""
    images = {match.span("url"): match.group("url") for match in _MARKDOWN_IMAGE.finditer(text)}
    found = [(url, span, True) for span, url in images.items()]
    for match in _URL.finditer(text):
        if not any(start <= match.start() < end for start, end in images):
            found.append((match.group().rstrip(".,;:!?"), match.span(), False))
    return found


def domain_allowed(url: str, allowed: list[str]) -> bool:
    """Whether the host of ``url`` is one of ``allowed`` or a sub-domain of one."""
    if "://" not in url:
        url = "//" + url if not url.startswith("//") else url
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in allowed)


class UrlGuardrail:
    """Blocks links to hosts off the allow-list, and markdown images that carry data in their query string.

    A markdown image is fetched by the chat client as soon as it renders, so an image
    URL with a query string can send conversation data out without a click.
    """

    name = "output_urls"
    sources = _OUTPUT

    def __init__(self, settings: GuardrailSettings) -> None:
        self.allowed = settings.allowed_domains
        self.action = Action(settings.output.url_action)

    def check(self, text: str, source: Source, context: GuardContext) -> Verdict:
        spans: list[tuple[int, int]] = []
        reason = ""
        for url, span, image in find_urls(text):
            if self.allowed is not None and domain_allowed(url, self.allowed):
                continue
            if self.allowed is not None:
                spans.append(span)
                reason = reason or "url_not_allowed"
            elif image and urlsplit(url if "://" in url else "//" + url).query:
                spans.append(span)
                reason = "markdown_image_exfiltration"
        if not spans:
            return Verdict(Action.ALLOW, self.name)
        return Verdict(self.action, self.name, 1.0, reason, tuple(spans))
