"""The prompt-injection guardrail: pattern rules and learned classifiers combined.

The rules run first and decide alone when they are sure. Otherwise the embedding
classifier (and the transformer classifier, when configured) scores the text, and
the text is an injection when rules and classifier together are sure
(``1 - (1 - rule_score) * (1 - probability) >= 0.9``, with at least one rule hit), or,
for a user prompt only, when the classifier is sure on its own. The classifier's
training data are almost all user prompts, and on tool results and documents it
flags benign text that talks about assistants and instructions, so there it only
confirms rule evidence; a tool result without any rule hit is not embedded at all.

What happens next depends on the source: a user prompt is blocked; in a tool result
or document the offending sentences are stripped (``rewrite``) when rules located
them, and the whole text is blocked when only a classifier spoke.
"""

from __future__ import annotations

import logging
import re
import threading

from mesh_agents.embeddings import Vectorizer
from mesh_agents.guardrails.base import Action, GuardContext, Verdict
from mesh_agents.guardrails.classifier import (
    EmbeddingClassifier,
    InjectionClassifier,
    LinearHead,
    TransformerClassifier,
)
from mesh_agents.guardrails.rules import RuleScanner
from mesh_agents.guardrails.schema import InjectionSettings
from mesh_agents.guardrails.train import classifier_text
from mesh_agents.types import Source

__all__ = ["COMBINED_THRESHOLD", "InjectionGuardrail", "strip_spans"]

logger = logging.getLogger(__name__)

COMBINED_THRESHOLD = 0.9
# Characters around the rule hits that the classifier reads when it weighs rule evidence.
_CONTEXT = 250
_INPUT_SOURCES = frozenset({Source.USER, Source.TOOL_RESULT, Source.DOCUMENT})
_REMOVED = "[removed by guardrail: {reason}]"
# Boundaries a stripped span grows to: the sentence, line, JSON string, bracket or HTML comment around it.
_LEFT_STOPS = re.compile(r'(?:\n|\\n|(?<=[.!?])\s|"|\[|\{|<!--|>)')
_RIGHT_STOPS = re.compile(r'(?:\n|\\n|[.!?](?=\s|$|")|"|\]|\}|-->|<)')


class InjectionGuardrail:
    """Detects prompt injection and jailbreaks in user prompts, tool results and documents.

    Args:
        settings: The injection policy.
        vectorizer: Embedding model for the classifier; it loads on first use, in a
            worker thread of the engine.
        scanner: Rule scanner; the built-in rules when None.
        classifiers: Classifiers to use instead of those the settings describe.
    """

    name = "injection"
    sources = _INPUT_SOURCES

    def __init__(
        self,
        settings: InjectionSettings,
        vectorizer: Vectorizer | None = None,
        *,
        scanner: RuleScanner | None = None,
        classifiers: list[InjectionClassifier] | None = None,
    ) -> None:
        self.settings = settings
        self.scanner = scanner or RuleScanner(
            max_blobs=settings.max_decoded_blobs, span_threshold=settings.rule_threshold
        )
        self._vectorizer = vectorizer
        self._classifiers = classifiers
        self._lock = threading.Lock()

    @property
    def classifiers(self) -> list[InjectionClassifier]:
        """The classifiers from the settings, built on first use."""
        with self._lock:
            if self._classifiers is None:
                self._classifiers = self._build_classifiers()
            return self._classifiers

    def prepare(self) -> None:
        """Build the classifiers and load their models; the engine calls this outside the time budget."""
        for classifier in self.classifiers:
            classifier.score("warm-up")

    def _build_classifiers(self) -> list[InjectionClassifier]:
        options = self.settings.classifier
        built: list[InjectionClassifier] = []
        if options.enabled and self._vectorizer is not None:
            head = LinearHead.load(options.weights)
            built.append(
                EmbeddingClassifier(
                    self._vectorizer,
                    head,
                    threshold=options.block_threshold,
                    window_chars=options.window_chars,
                    window_stride=options.window_stride,
                    max_windows=options.max_windows,
                )
            )
        if options.transformer_model:
            built.append(TransformerClassifier(options.transformer_model, threshold=options.transformer_threshold))
        return built

    def check(self, text: str, source: Source, context: GuardContext) -> Verdict:
        if not text.strip():
            return Verdict(Action.ALLOW, self.name)

        # Rules alone when they are sure: cheap, and they locate the span for a rewrite.
        scan = self.scanner.scan(text, source)
        if scan.score >= self.settings.rule_threshold:
            return self._verdict(text, source, scan.score, f"rules:{scan.reason}", scan.reason, scan.spans)

        # A question about a quoted attack string is judged by the damped rules alone, because
        # the classifier scores the attack words and cannot tell quoting from issuing.
        if scan.quoted_discussion:
            return Verdict(Action.ALLOW, self.name, score=scan.score)

        # Otherwise ask the classifiers: alone for user prompts, with rule evidence everywhere.
        if source is not Source.USER and not scan.hits:
            return Verdict(Action.ALLOW, self.name, score=scan.score)
        # Rule evidence combines with the classifier's view of the same passage only, not
        # with its most suspicious window somewhere else in a long text.
        whole = classifier_text(text) if source is Source.USER else None
        local = None
        if scan.hits:
            start = max(min(hit.span[0] for hit in scan.hits) - _CONTEXT, 0)
            end = max(hit.span[1] for hit in scan.hits) + _CONTEXT
            local = whole if start == 0 and end >= len(text) and whole is not None else classifier_text(text[start:end])
        for classifier in self.classifiers:
            if whole is not None:
                probability, _ = classifier.score(whole)
                if probability >= classifier.threshold:
                    reason = scan.reason or "injection_classifier"
                    return self._verdict(text, source, probability, classifier.name, reason, scan.spans)
            if local is not None:
                nearby = probability if local is whole else classifier.score(local)[0]
                combined = 1.0 - (1.0 - scan.score) * (1.0 - nearby)
                if combined >= COMBINED_THRESHOLD:
                    return self._verdict(text, source, combined, classifier.name, scan.reason, scan.spans)
        return Verdict(Action.ALLOW, self.name, score=scan.score)

    def _verdict(
        self, text: str, source: Source, score: float, decided_by: str, reason: str, spans: tuple[tuple[int, int], ...]
    ) -> Verdict:
        action = Action(self.settings.action_user if source is Source.USER else self.settings.action_tool_result)
        if action is Action.REWRITE:
            if not spans:
                action = Action.BLOCK
            else:
                rewritten = strip_spans(text, spans, reason)
                return Verdict(action, self.name, score, reason, spans, rewritten=rewritten)
        logger.debug("injection verdict %s by %s", action.value, decided_by)
        return Verdict(action, self.name, score, reason, spans)


def strip_spans(text: str, spans: tuple[tuple[int, int], ...], reason: str) -> str:
    """Replace each span, grown to its sentence or enclosing string, with a removal marker."""
    grown = sorted(_grow(text, start, end) for start, end in spans)
    merged: list[list[int]] = []
    for start, end in grown:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    marker = _REMOVED.format(reason=reason)
    parts = []
    cursor = 0
    for start, end in merged:
        parts.append(text[cursor:start])
        parts.append(marker)
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def _grow(text: str, start: int, end: int) -> tuple[int, int]:
    # A span inside an HTML comment takes the whole comment.
    comment_start = text.rfind("<!--", 0, start + 1)
    if comment_start != -1 and text.find("-->", comment_start) >= end - 3:
        comment_end = text.find("-->", comment_start) + 3
        if text.rfind("-->", 0, start) < comment_start:
            return comment_start, comment_end
    left = start
    for match in _LEFT_STOPS.finditer(text, 0, start):
        left = match.end()
    left = min(left, start)
    right_match = _RIGHT_STOPS.search(text, end)
    right = (
        right_match.end()
        if right_match and text[right_match.start()] in ".!?"
        else (right_match.start() if right_match else len(text))
    )
    return left, max(right, end)
