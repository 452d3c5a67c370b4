"""The Redactor facade: masking, restoring, policies and failure handling."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mesh_agents.errors import InvalidInputError, RedactionBlocked
from mesh_agents.redaction import Entity, MemoryVault, PatternDetector, RedactionSettings, Redactor
from mesh_agents.settings import MeshSettings

EMAIL = "anna.schmidt@example.com"
IBAN = "DE89 3704 0044 0532 0130 00"
TEXT = f"Hi, I am Anna ({EMAIL}). Refund to {IBAN} please."


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(MeshSettings())


def settings_with(**redaction: Any) -> MeshSettings:
    return MeshSettings(redaction=RedactionSettings(**redaction))


def test_mask_text_replaces_entities(redactor: Redactor) -> None:
    result = redactor.mask_text(TEXT, tenant="acme", session="s1")
    assert result.text == "Hi, I am Anna (<EMAIL_1>). Refund to <IBAN_1> please."
    assert [e.label for e in result.entities] == ["email", "iban"]
    assert result.placeholders == ["<EMAIL_1>", "<IBAN_1>"]
    assert EMAIL not in repr(result.entities)


def test_restore_text_is_exact(redactor: Redactor) -> None:
    masked = redactor.mask_text(TEXT, tenant="acme", session="s1").text
    assert redactor.restore_text(masked, tenant="acme", session="s1") == (TEXT, 2)


def test_same_value_same_placeholder_across_turns() -> None:
    vault = MemoryVault()
    first = Redactor(MeshSettings(), vault=vault)
    second = Redactor(MeshSettings(), vault=vault)  # another agent of the same run
    one = first.mask_text(f"mail {EMAIL}", tenant="acme", session="run-1")
    two = second.mask_text(f"other b@example.org then {EMAIL}", tenant="acme", session="run-1")
    assert one.text == "mail <EMAIL_1>"
    assert two.text == "other <EMAIL_2> then <EMAIL_1>"


def test_sessions_and_tenants_are_isolated(redactor: Redactor) -> None:
    masked = redactor.mask_text(f"mail {EMAIL}", tenant="acme", session="s1").text
    assert redactor.restore_text(masked, tenant="acme", session="s2") == (masked, 0)
    assert redactor.restore_text(masked, tenant="globex", session="s1") == (masked, 0)


def test_unknown_placeholder_stays(redactor: Redactor) -> None:
    redactor.mask_text(f"mail {EMAIL}", tenant="acme", session="s1")
    assert redactor.restore_text("<EMAIL_1> and <PERSON_7>", tenant="acme", session="s1") == (
        f"{EMAIL} and <PERSON_7>",
        1,
    )


def test_literal_placeholder_in_input_restores_exactly(redactor: Redactor) -> None:
    text = f"the template says <EMAIL_1>, mine is {EMAIL}"
    result = redactor.mask_text(text, tenant="acme", session="s1")
    assert "<EMAIL_1>" in result.text
    assert redactor.restore_text(result.text, tenant="acme", session="s1")[0] == text


def test_mask_json_nested_tool_args(redactor: Redactor) -> None:
    args = {"customer": {"emails": [EMAIL, "none"], "iban": IBAN}, "amount": 12.5, "ok": True, "note": None}
    original = copy.deepcopy(args)
    masked, entities = redactor.mask_json(args, tenant="acme", session="s1")
    assert masked == {
        "customer": {"emails": ["<EMAIL_1>", "none"], "iban": "<IBAN_1>"},
        "amount": 12.5,
        "ok": True,
        "note": None,
    }
    assert len(entities) == 2
    assert args == original
    assert redactor.restore_json(masked, tenant="acme", session="s1") == (args, 2)


def test_mask_messages_covers_every_kind(redactor: Redactor) -> None:
    call = {"name": "refund", "args": {"iban": IBAN, "to": {"email": EMAIL}}, "id": "call_1", "type": "tool_call"}
    messages = [
        SystemMessage(f"Support address is {EMAIL}"),
        HumanMessage([{"type": "text", "text": f"refund to {IBAN}"}, {"type": "image_url", "image_url": "x"}]),
        AIMessage("", tool_calls=[call]),
        ToolMessage(f"refunded to {IBAN}", tool_call_id="call_1"),
    ]
    before = [m.model_dump() for m in messages]
    masked, entities = redactor.mask_messages(messages, tenant="acme", session="s1")
    assert [m.model_dump() for m in messages] == before
    assert masked[0].content == "Support address is <EMAIL_1>"
    assert masked[1].content[0] == {"type": "text", "text": "refund to <IBAN_1>"}
    assert masked[1].content[1] == {"type": "image_url", "image_url": "x"}
    assert isinstance(masked[2], AIMessage)
    assert masked[2].tool_calls[0]["args"] == {"iban": "<IBAN_1>", "to": {"email": "<EMAIL_1>"}}
    assert masked[3].content == "refunded to <IBAN_1>"
    assert isinstance(masked[3], ToolMessage)
    assert masked[3].tool_call_id == "call_1"
    assert len(entities) == 5


def test_restore_message_ai_with_tool_calls(redactor: Redactor) -> None:
    redactor.mask_text(TEXT, tenant="acme", session="s1")
    raw = [{"id": "c1", "type": "function", "function": {"name": "refund", "arguments": '{"iban": "<IBAN_1>"}'}}]
    answer = AIMessage(
        "Sending to <EMAIL_1>",
        tool_calls=[{"name": "refund", "args": {"iban": "<IBAN_1>", "n": [1, "<EMAIL_1>"]}, "id": "c1"}],
        additional_kwargs={"tool_calls": raw},
    )
    restored, count = redactor.restore_message(answer, tenant="acme", session="s1")
    assert count == 3
    assert restored.content == f"Sending to {EMAIL}"
    assert isinstance(restored, AIMessage)
    assert restored.tool_calls[0]["args"] == {"iban": IBAN, "n": [1, EMAIL]}
    assert IBAN in restored.additional_kwargs["tool_calls"][0]["function"]["arguments"]
    assert answer.content == "Sending to <EMAIL_1>"


def test_restore_message_chunk_and_tool_message(redactor: Redactor) -> None:
    redactor.mask_text(TEXT, tenant="acme", session="s1")
    chunk = AIMessageChunk(content="to <EMAIL_1>", id="m1")
    restored, count = redactor.restore_message(chunk, tenant="acme", session="s1")
    assert isinstance(restored, AIMessageChunk)
    assert (restored.content, count) == (f"to {EMAIL}", 1)
    tool = ToolMessage("paid <IBAN_1>", tool_call_id="c1")
    restored_tool, count = redactor.restore_message(tool, tenant="acme", session="s1")
    assert (restored_tool.content, count) == (f"paid {IBAN}", 1)


def test_stream_restorer_holds_back_only_partial_placeholder(redactor: Redactor) -> None:
    redactor.mask_text(TEXT, tenant="acme", session="s1")
    restorer = redactor.stream_restorer(tenant="acme", session="s1")
    assert restorer.feed("Dear customer, we mailed ") == "Dear customer, we mailed "
    assert restorer.feed("you at <EMA") == "you at "
    assert restorer.feed("IL_1> and ") == f"{EMAIL} and "
    assert restorer.feed("paid <IBAN_1") == "paid "
    assert restorer.flush() == "<IBAN_1"
    assert restorer.restored == 1


def test_action_redact_and_hash() -> None:
    settings = settings_with(actions={"email": "redact", "iban": "hash"})
    redactor = Redactor(settings)
    result = redactor.mask_text(TEXT, tenant="acme", session="s1")
    assert result.text.startswith("Hi, I am Anna ([EMAIL]). Refund to [IBAN:")
    assert result.placeholders == [None, None]
    again = redactor.mask_text(TEXT, tenant="acme", session="s2").text
    assert again == result.text
    assert redactor.restore_text(result.text, tenant="acme", session="s1") == (result.text, 0)


def test_action_block_raises_without_value() -> None:
    redactor = Redactor(settings_with(actions={"iban": "block"}))
    with pytest.raises(RedactionBlocked) as caught:
        redactor.mask_text(TEXT, tenant="acme", session="s1")
    assert "'iban'" in str(caught.value)
    assert IBAN not in str(caught.value)
    assert caught.value.details["label"] == "iban"


def test_allow_list_and_patterns() -> None:
    settings = settings_with(allow_list=["Support@Acme.example"], allow_patterns=[r".*@acme\.example"])
    result = Redactor(settings).mask_text(
        "write support@acme.example or billing@acme.example or anna@example.com", tenant="acme", session="s1"
    )
    assert result.text == "write support@acme.example or billing@acme.example or <EMAIL_1>"


def test_labels_limit_what_is_masked() -> None:
    result = Redactor(settings_with(labels=["iban"])).mask_text(TEXT, tenant="acme", session="s1")
    assert result.text == f"Hi, I am Anna ({EMAIL}). Refund to <IBAN_1> please."


def test_tenant_policy_override() -> None:
    settings = MeshSettings.model_validate(
        {"tenants": {"acme": {"redaction": {"actions": {"email": "redact"}}}, "globex": {}}}
    )
    redactor = Redactor(settings)
    assert redactor.mask_text(EMAIL, tenant="acme", session="s1").text == "[EMAIL]"
    assert redactor.mask_text(EMAIL, tenant="globex", session="s1").text == "<EMAIL_1>"
    with pytest.raises(InvalidInputError, match="unknown tenant 'initech'"):
        redactor.mask_text(EMAIL, tenant="initech", session="s1")


def test_disabled_policy_passes_text() -> None:
    result = Redactor(settings_with(enabled=False)).mask_text(TEXT, tenant="acme", session="s1")
    assert (result.text, result.entities) == (TEXT, [])


def test_invalid_session_and_text_rejected(redactor: Redactor) -> None:
    with pytest.raises(InvalidInputError, match="invalid session id"):
        redactor.mask_text("x", tenant="acme", session="has space")
    with pytest.raises(InvalidInputError, match="expected text as str"):
        redactor.mask_text(b"x", tenant="acme", session="s1")  # type: ignore[arg-type]
    small = Redactor(MeshSettings(max_input_chars=10))
    with pytest.raises(InvalidInputError, match="max_input_chars=10"):
        small.mask_text("x" * 11, tenant="acme", session="s1")


class FailingDetector:
    name = "failing"

    def detect(self, text: str, labels: Sequence[str] | None = None) -> list[Entity]:
        raise RuntimeError(f"model crashed on {text}")


class BlockingDetector:
    """Waits until released, at most five seconds, to stand for a hung model."""

    name = "blocking"

    def __init__(self) -> None:
        self.release = threading.Event()

    def detect(self, text: str, labels: Sequence[str] | None = None) -> list[Entity]:
        self.release.wait(5)
        return []


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr("mesh_agents.tracing.spans.get_tracer", lambda: provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def test_detection_error_fails_closed(spans: InMemorySpanExporter) -> None:
    redactor = Redactor(MeshSettings(), detectors=[FailingDetector()])
    with pytest.raises(RedactionBlocked, match="detection failed \\(RuntimeError\\)") as caught:
        redactor.mask_text(TEXT, tenant="acme", session="s1")
    assert EMAIL not in str(caught.value)
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["mesh.redaction.detection_failure"] == "RuntimeError"
    assert attributes["mesh.redaction.fail_open"] is False


def test_detection_error_fails_open_when_allowed(spans: InMemorySpanExporter) -> None:
    redactor = Redactor(settings_with(fail_open=True), detectors=[FailingDetector()])
    result = redactor.mask_text(TEXT, tenant="acme", session="s1")
    assert result.text == TEXT
    (span,) = spans.get_finished_spans()
    assert dict(span.attributes or {})["mesh.redaction.fail_open"] is True


def test_detection_timeout_fails_closed() -> None:
    detector = BlockingDetector()
    redactor = Redactor(settings_with(detection_timeout_s=0.05), detectors=[detector])
    try:
        with pytest.raises(RedactionBlocked, match="detection failed \\(timeout\\)"):
            redactor.mask_text(TEXT, tenant="acme", session="s1")
    finally:
        detector.release.set()


def test_custom_detector_merges_with_patterns() -> None:
    class Names:
        name = "names"

        def detect(self, text: str, labels: Sequence[str] | None = None) -> list[Entity]:
            start = text.find("Anna")
            return [Entity("person", start, start + 4, 0.8, self.name, "Anna")] if start >= 0 else []

    redactor = Redactor(MeshSettings(), detectors=[PatternDetector(), Names()])
    result = redactor.mask_text(TEXT, tenant="acme", session="s1")
    assert result.text == "Hi, I am <PERSON_1> (<EMAIL_1>). Refund to <IBAN_1> please."


def test_missing_extra_not_hidden_by_fail_open(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from mesh_agents.errors import MissingExtraError
    from mesh_agents.redaction import gliner as gliner_module

    monkeypatch.setitem(sys.modules, "gliner", None)
    monkeypatch.setattr(gliner_module, "_models", {})
    redactor = Redactor(settings_with(detectors=["patterns", "gliner"], fail_open=True))
    with pytest.raises(MissingExtraError, match="mesh-agents\\[gliner\\]"):
        redactor.mask_text(TEXT, tenant="acme", session="s1")


def test_national_id_kinds_per_policy() -> None:
    text = "PESEL: 66101277888, BSN: 582470316"
    only_dutch = Redactor(settings_with(national_ids=["nl.bsn"]))
    assert only_dutch.mask_text(text, tenant="acme", session="s1").text == "PESEL: 66101277888, BSN: <NATIONAL_ID_1>"
    with pytest.raises(ValueError, match=r"unknown national id kind 'xx\.id'"):
        RedactionSettings(national_ids=["xx.id"])
    with pytest.raises(ValueError, match="unknown phone region 'XX'"):
        RedactionSettings(phone_regions=["xx"])
