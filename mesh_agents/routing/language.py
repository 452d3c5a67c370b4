"""Request language for the capability filter, detected with py3langid (a langid.py fork, BSD).

The model loads on first use (about one second), never at import.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any

from mesh_agents.errors import MissingExtraError

__all__ = ["detect_language"]

_MIN_CHARS = 20
_identifier: Any = None
_lock = threading.Lock()


def _load() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            try:
                from py3langid import langid
            except ImportError as exc:
                raise MissingExtraError("py3langid", "routing") from exc
            _identifier = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=False)
        return _identifier


def detect_language(text: str, allowed: Collection[str] | None = None) -> str | None:
    """Return the ISO 639-1 code of ``text``, or None when the text is too short to tell.

    Args:
        text: The text to classify.
        allowed: Languages to choose between; the best-ranked one of these wins. None
            considers the ~97 languages py3langid knows.
    """
    stripped = text.strip()
    if len(stripped) < _MIN_CHARS:
        return None
    ranking = _load().rank(stripped)
    for language, _score in ranking:
        if allowed is None or language in allowed:
            return str(language)
    return None
