"""Turn a model string such as ``openai:gpt-4o-mini`` or ``standin:large`` into a chat model.

``standin`` and ``standin:<name>`` build the local ``StandInChatModel``. Every other
string goes to LangChain's ``init_chat_model`` (the ``langchain`` package, extra
``providers``), which needs the provider's integration package:

- OpenAI: ``openai:gpt-4o-mini`` with ``pip install langchain-openai`` and ``OPENAI_API_KEY``.
- Ollama: ``ollama:llama3.1`` with ``pip install langchain-ollama`` and a running
  ``ollama serve`` (``base_url`` defaults to ``http://localhost:11434``).
- Any OpenAI-compatible server (vLLM, LM Studio, llama.cpp server, a gateway):
  ``openai:<model name>`` with ``base_url="http://host:port/v1"``, or
  ``OPENAI_BASE_URL`` set.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.language_models import BaseChatModel

from mesh_agents.errors import ConfigurationError, MissingExtraError
from mesh_agents.models.standin import StandInChatModel

__all__ = ["resolve_model"]

_STANDIN = "standin"
_PIP_HINT = re.compile(r"pip install ([A-Za-z0-9_.\-\[\]]+)")


def resolve_model(
    spec: str,
    *,
    latency_ms: float = 0.0,
    base_url: str | None = None,
    **kwargs: Any,
) -> BaseChatModel:
    """Build the chat model that ``spec`` names.

    Args:
        spec: ``standin``, ``standin:<name>``, or a LangChain provider string
            ``<provider>:<model>`` such as ``openai:gpt-4o-mini`` or ``ollama:llama3.1``.
        latency_ms: Delay of the stand-in model per call, ms; ignored for real providers.
        base_url: Base URL of an OpenAI-compatible or Ollama server.
        **kwargs: Passed on to ``init_chat_model`` (temperature, api_key, ...).

    Raises:
        ConfigurationError: ``spec`` is empty or names an unknown provider, or the
            provider's integration package is missing (the message names it).
        MissingExtraError: ``langchain`` itself is not installed.
    """
    spec = spec.strip()
    if not spec:
        raise ConfigurationError(
            "empty model string; use 'standin' or '<provider>:<model>' such as 'openai:gpt-4o-mini'"
        )
    if spec == _STANDIN or spec.startswith(_STANDIN + ":"):
        name = spec.partition(":")[2] or _STANDIN
        return StandInChatModel(model_name=name, latency_ms=latency_ms)
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise MissingExtraError("langchain", "providers") from exc
    if base_url is not None:
        kwargs["base_url"] = base_url
    try:
        model = init_chat_model(spec, **kwargs)
    except ImportError as exc:
        match = _PIP_HINT.search(str(exc))
        package = match.group(1) if match else "the provider's langchain integration package"
        raise ConfigurationError(
            f"model {spec!r} needs the package {package}; install it with: pip install {package}",
            details={"model": spec, "package": package},
        ) from exc
    except ValueError as exc:
        raise ConfigurationError(
            f"cannot build model {spec!r}: the provider is unknown or missing; "
            "write it as '<provider>:<model>', for example 'openai:gpt-4o-mini' or 'ollama:llama3.1'",
            details={"model": spec},
        ) from exc
    if not isinstance(model, BaseChatModel):  # init_chat_model returns a configurable wrapper without a model
        raise ConfigurationError(f"model {spec!r} did not resolve to one chat model; name the model in full")
    return model
