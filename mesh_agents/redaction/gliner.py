"""The GLiNER detector: zero-shot, multilingual named-entity recognition for PII.

GLiNER reads at most ``max_len`` words (384 for the public PII models), so long texts
are split into windows of ``window_words`` words that share ``overlap_words`` words with
their neighbours. Each window owns the part of the text closer to its own middle than
to a neighbour's. An entity is kept only from the window that owns its midpoint, so
an entity on a boundary is reported once, by the window that contains it whole. All
windows of all texts go to the model in batches of ``batch_size``.

Models load lazily, once per process and model name, under a lock.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mesh_agents.errors import ConfigurationError, MissingExtraError
from mesh_agents.redaction.base import Entity
from mesh_agents.redaction.schema import GlinerSettings
from mesh_agents.redaction.spans import merge_entities

__all__ = ["GlinerDetector", "load_gliner", "split_windows"]

logger = logging.getLogger(__name__)

_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()

_WORD = re.compile(r"\S+")


def load_gliner(model: str, device: str = "cpu") -> Any:
    """Return the GLiNER model ``model`` (Hugging Face id or folder), loading it once per process.

    Raises:
        MissingExtraError: the ``gliner`` package is not installed.
        ConfigurationError: the model cannot be found or loaded.
    """
    key = (model, device)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is not None:
            return loaded
        try:
            from gliner import GLiNER
        except ImportError as exc:
            raise MissingExtraError("gliner", "gliner") from exc
        logger.info("loading GLiNER model %s on %s", model, device)
        try:
            loaded = GLiNER.from_pretrained(model, map_location=device)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigurationError(
                f"cannot load the GLiNER model {model!r} ({type(exc).__name__}); check redaction.gliner.model: "
                "a Hugging Face id needs network access or a filled cache, a folder needs gliner_config.json"
            ) from exc
        loaded.to(device)
        loaded.eval()
        _models[key] = loaded
        return loaded


@dataclass(frozen=True)
class Window:
    """A piece of one text given to the model.

    Attributes:
        start, end: Offsets of the piece in the text.
        own_start, own_end: The part of the text whose entities this window reports.
    """

    start: int
    end: int
    own_start: int
    own_end: int


def split_windows(text: str, window_words: int, overlap_words: int) -> list[Window]:
    """Split ``text`` into windows of ``window_words`` words sharing ``overlap_words`` words."""
    words = [match.span() for match in _WORD.finditer(text)]
    if len(words) <= window_words:
        return [Window(0, len(text), 0, len(text))]
    step = max(1, window_words - overlap_words)
    firsts = list(range(0, len(words) - overlap_words, step))
    if firsts[-1] + window_words < len(words):
        firsts.append(len(words) - window_words)
    spans = [(words[first][0], words[min(first + window_words, len(words)) - 1][1]) for first in firsts]

    # A window owns text up to the middle of its overlap with each neighbour.
    windows = []
    for i, (start, end) in enumerate(spans):
        own_start = 0 if i == 0 else (start + spans[i - 1][1]) // 2
        own_end = len(text) if i == len(spans) - 1 else (spans[i + 1][0] + end) // 2
        windows.append(Window(start, end, own_start, own_end))
    return windows


class GlinerDetector:
    """Finds the labels of ``settings.labels`` (person, address, ...) with a GLiNER model.

    Args:
        settings: Model, label prompts, thresholds, window and batch sizes.
        model: An already loaded GLiNER model to use instead of loading ``settings.model``.
    """

    name = "gliner"

    def __init__(self, settings: GlinerSettings | None = None, *, model: Any = None) -> None:
        self.settings = settings or GlinerSettings()
        self._model = model
        # The model takes prompts; entities carry the label they stand for.
        self._label_of_prompt = {prompt: label for label, prompt in self.settings.labels.items()}

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels this detector can report."""
        return tuple(self.settings.labels)

    @property
    def model(self) -> Any:
        """The GLiNER model, loaded on first use."""
        if self._model is None:
            self._model = load_gliner(self.settings.model, self.settings.device)
        return self._model

    def detect(self, text: str, labels: Sequence[str] | None = None) -> list[Entity]:
        """Return the entities in ``text`` without overlaps, sorted by start."""
        return self.detect_many([text], labels)[0]

    def detect_many(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> list[list[Entity]]:
        """Return the entities of each text; all windows of all texts are batched together."""
        requested = [label for label in self.settings.labels if labels is None or label in labels]
        if not requested or not texts:
            return [[] for _ in texts]
        prompts = [self.settings.labels[label] for label in requested]
        threshold = min(self.settings.threshold_for(label) for label in requested)

        pieces: list[tuple[int, Window]] = []
        for index, text in enumerate(texts):
            if text.strip():
                for window in split_windows(text, self.settings.window_words, self.settings.overlap_words):
                    pieces.append((index, window))
        if not pieces:
            return [[] for _ in texts]
        predictions = self.model.inference(
            [texts[index][window.start : window.end] for index, window in pieces],
            prompts,
            flat_ner=True,
            threshold=threshold,
            batch_size=self.settings.batch_size,
        )

        found: list[list[Entity]] = [[] for _ in texts]
        for (index, window), predicted in zip(pieces, predictions, strict=True):
            for item in predicted:
                entity = self._to_entity(texts[index], window, item)
                if entity is not None:
                    found[index].append(entity)
        return [merge_entities(entities) for entities in found]

    def _to_entity(self, text: str, window: Window, item: dict[str, Any]) -> Entity | None:
        label = self._label_of_prompt.get(item["label"])
        if label is None:
            return None
        score = float(item["score"])
        if score < self.settings.threshold_for(label):
            return None
        start = window.start + int(item["start"])
        end = window.start + int(item["end"])
        if not window.own_start <= (start + end) / 2 < window.own_end:
            return None
        # Trim white space and closing punctuation the model may include in the span.
        while end > start and text[end - 1] in " \t\r\n.,;:":
            end -= 1
        while start < end and text[start].isspace():
            start += 1
        if end <= start:
            return None
        return Entity(label, start, end, round(score, 4), self.name, text[start:end])
