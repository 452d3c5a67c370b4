"""Learned injection classifiers: a linear head over sentence embeddings, and a transformer plug point.

``EmbeddingClassifier`` embeds a text with the mesh's vectorizer (all-MiniLM-L6-v2 by
default) and applies a logistic-regression head stored in a small ``.npz`` file. The
model reads at most 256 word pieces, so a long text is cut into overlapping windows
(500 characters, 250 apart, as the head was trained) and scored by its most
suspicious window. A one-sentence attack still shares its window with the text
around it, which lowers its score; the pattern rules carry long tool results, and the
classifier mainly adds recall on prompts that consist of the attack (jailbreak
personas, overrides). ``train.py`` builds the head.

``TransformerClassifier`` loads a sequence-classification model that users have on
disk, such as Meta's Prompt Guard or a DeBERTa injection model, through
``transformers``; nothing is downloaded.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from mesh_agents.embeddings import Vectorizer
from mesh_agents.errors import ConfigurationError, MissingExtraError

__all__ = [
    "DEFAULT_HEAD",
    "EmbeddingClassifier",
    "InjectionClassifier",
    "LinearHead",
    "TransformerClassifier",
    "windows",
]

logger = logging.getLogger(__name__)

DEFAULT_HEAD = "injection_head.npz"


@runtime_checkable
class InjectionClassifier(Protocol):
    """Scores how likely a text is a prompt injection."""

    name: str
    threshold: float

    def score(self, text: str) -> tuple[float, tuple[int, int]]:
        """Return the injection probability, 0 to 1, and the ``(start, end)`` of the window that scored it."""
        ...


def windows(text: str, size: int, stride: int) -> list[tuple[int, int]]:
    """Cut ``text`` into windows of ``size`` characters, ``stride`` apart, the last one flush with the end."""
    if len(text) <= size:
        return [(0, len(text))]
    starts = list(range(0, len(text) - size, stride))
    starts.append(len(text) - size)
    return [(start, start + size) for start in starts]


@dataclass(frozen=True)
class LinearHead:
    """Logistic-regression weights over embeddings, with what they were trained on.

    Attributes:
        coef: Weight per embedding dimension.
        intercept: Bias.
        threshold: Probability at or above which the head alone calls a text an injection.
        vectorizer: Name of the embedding model the head expects.
        window_chars: Window size used in training, characters.
        window_stride: Window stride used in training, characters.
        train_digests: Digests of the training texts, so an evaluation can leave them out.
        metadata: Training facts (data file, split, regularisation, counts).
    """

    coef: npt.NDArray[np.float32]
    intercept: float
    threshold: float
    vectorizer: str
    window_chars: int
    window_stride: int
    train_digests: frozenset[str]
    metadata: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path | None = None) -> LinearHead:
        """Load a head from ``path``, or the one shipped in the package when ``path`` is None.

        Raises:
            ConfigurationError: the file is missing or not a head written by ``save``.
        """
        try:
            if path is None:
                with resources.files("mesh_agents.guardrails.data").joinpath(DEFAULT_HEAD).open("rb") as handle:
                    data = dict(np.load(handle, allow_pickle=False))
            else:
                data = dict(np.load(Path(path), allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot read the injection classifier head {str(path or DEFAULT_HEAD)!r} ({type(exc).__name__}); "
                "train one with scripts/train_injection_classifier.py or unset guardrails.injection.classifier.weights"
            ) from exc
        try:
            metadata = json.loads(str(data["metadata"]))
            return cls(
                coef=data["coef"].astype(np.float32),
                intercept=float(data["intercept"]),
                threshold=float(data["threshold"]),
                vectorizer=str(data["vectorizer"]),
                window_chars=int(data["window_chars"]),
                window_stride=int(data["window_stride"]),
                train_digests=frozenset(str(d) for d in data["train_digests"]),
                metadata=metadata,
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"the injection classifier head {str(path or DEFAULT_HEAD)!r} lacks the array {exc.args[0]!r}; "
                "write it with LinearHead.save"
            ) from exc

    def save(self, path: str | Path) -> None:
        """Write the head as an uncompressed ``.npz`` of plain arrays (no pickles)."""
        np.savez(
            Path(path),
            coef=self.coef.astype(np.float32),
            intercept=np.float64(self.intercept),
            threshold=np.float64(self.threshold),
            vectorizer=np.str_(self.vectorizer),
            window_chars=np.int64(self.window_chars),
            window_stride=np.int64(self.window_stride),
            train_digests=np.array(sorted(self.train_digests), dtype=np.str_),
            metadata=np.str_(json.dumps(self.metadata, sort_keys=True)),
        )

    def probabilities(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Return the injection probability of each embedding row."""
        logits = vectors.astype(np.float64) @ self.coef.astype(np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))


class EmbeddingClassifier:
    """The linear head over sentence embeddings, scoring the most suspicious window of a text.

    Args:
        vectorizer: Embedding model; must be the one the head was trained with.
        head: The weights; the packaged head when None.
        threshold: Overrides the head's own threshold.
        window_chars, window_stride: Override the head's windowing.
    """

    name = "embedding_classifier"

    def __init__(
        self,
        vectorizer: Vectorizer,
        head: LinearHead | None = None,
        *,
        threshold: float | None = None,
        window_chars: int | None = None,
        window_stride: int | None = None,
    ) -> None:
        self.vectorizer = vectorizer
        self.head = head or LinearHead.load()
        if self.head.vectorizer != vectorizer.name:
            raise ConfigurationError(
                f"the injection classifier head was trained on {self.head.vectorizer!r} embeddings but the vectorizer "
                f"is {vectorizer.name!r}; retrain the head with this vectorizer or use the default one"
            )
        self.threshold = threshold if threshold is not None else self.head.threshold
        self.window_chars = window_chars or self.head.window_chars
        self.window_stride = window_stride or self.head.window_stride

    def score(self, text: str) -> tuple[float, tuple[int, int]]:
        spans = windows(text, self.window_chars, self.window_stride)
        vectors = self.vectorizer.embed([text[start:end] for start, end in spans])
        probabilities = self.head.probabilities(vectors)
        best = int(np.argmax(probabilities))
        return float(probabilities[best]), spans[best]

    def score_many(self, texts: Sequence[str]) -> list[float]:
        """Score many texts with one embedding batch; returns the max-window probability of each."""
        chunks: list[str] = []
        owners: list[int] = []
        for index, text in enumerate(texts):
            for start, end in windows(text, self.window_chars, self.window_stride):
                chunks.append(text[start:end])
                owners.append(index)
        probabilities = self.head.probabilities(self.vectorizer.embed(chunks)) if chunks else np.zeros(0)
        best = [0.0] * len(texts)
        for owner, probability in zip(owners, probabilities, strict=True):
            best[owner] = max(best[owner], float(probability))
        return best


class TransformerClassifier:
    """A Hugging Face sequence-classification model for injection, loaded from a local folder.

    The folder holds what ``save_pretrained`` writes (config, tokenizer, weights), for
    example ``meta-llama/Prompt-Guard-86M`` or ``protectai/deberta-v3-base-prompt-injection-v2``
    downloaded by the user. Labels whose name contains ``INJECTION``, ``JAILBREAK`` or
    ``MALICIOUS`` (or ``LABEL_1`` in a two-label model) count as injection; the
    probability is their summed softmax mass, maximised over windows of ``max_length``
    tokens.

    NOTE: no such model can be downloaded in this project's test environment, so this
    loader is exercised only on a tiny randomly initialised model built by the tests,
    never on real Prompt Guard or DeBERTa weights.

    Args:
        model_path: Local folder of the model.
        threshold: Injection probability that blocks.
        max_length: Tokens per window.
        device: Torch device, such as ``"cpu"`` or ``"cuda"``.
    """

    name = "transformer_classifier"
    _INJECTION_LABELS = ("INJECTION", "JAILBREAK", "MALICIOUS", "UNSAFE")

    def __init__(
        self, model_path: str | Path, *, threshold: float = 0.9, max_length: int = 512, device: str = "cpu"
    ) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_dir():
            raise ConfigurationError(
                f"transformer classifier folder {str(self.model_path)!r} not found: download the model with "
                "save_pretrained or huggingface-cli and point guardrails.injection.classifier.transformer_model at it"
            )
        self.threshold = threshold
        self.max_length = max_length
        self.device = device
        self._loaded: tuple[Any, Any, list[int]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any, list[int]]:
        with self._lock:
            if self._loaded is None:
                try:
                    import torch  # noqa: F401 - transformers needs it for the model
                    from transformers import AutoModelForSequenceClassification, AutoTokenizer
                except ImportError as exc:
                    raise MissingExtraError("transformers", "gliner") from exc
                logger.info("loading transformer injection classifier from %s", self.model_path)
                tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
                model = AutoModelForSequenceClassification.from_pretrained(self.model_path, local_files_only=True)
                model.to(self.device).eval()
                self._loaded = (tokenizer, model, self._injection_indices(model.config.id2label))
            return self._loaded

    @classmethod
    def _injection_indices(cls, id2label: dict[int, str]) -> list[int]:
        flagged = [
            int(i) for i, label in id2label.items() if any(key in label.upper() for key in cls._INJECTION_LABELS)
        ]
        if flagged:
            return flagged
        if len(id2label) == 2:
            return [1]
        raise ConfigurationError(
            f"cannot tell which of the labels {sorted(id2label.values())} means injection; rename them in the "
            "model config (id2label) to include INJECTION or JAILBREAK"
        )

    def score(self, text: str) -> tuple[float, tuple[int, int]]:
        import torch

        tokenizer, model, injection = self._load()
        encoded = tokenizer(
            text,
            truncation=True,
            max_length=self.max_length,
            stride=max(self.max_length // 8, 1),
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping")
        encoded.pop("overflow_to_sample_mapping", None)
        with torch.no_grad():
            logits = model(**{key: value.to(self.device) for key, value in encoded.items()}).logits
        probabilities = torch.softmax(logits.float(), dim=-1)[:, injection].sum(dim=-1).cpu().numpy()
        best = int(np.argmax(probabilities))
        window = offsets[best]
        nonzero = window[window[:, 1] > 0]
        span = (int(nonzero[0, 0]), int(nonzero[-1, 1])) if len(nonzero) else (0, len(text))
        return float(probabilities[best]), span
