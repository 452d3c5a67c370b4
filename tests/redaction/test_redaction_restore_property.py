"""Property tests: restoring after masking gives back the input byte for byte, in streams too."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk

from mesh_agents.redaction import MemoryVault, Redactor
from mesh_agents.settings import MeshSettings

VALUES = [
    "anna.schmidt@example.com",
    "zoë@exemple.fr",
    "+49 30 901820",
    "+1 757-482-0449",
    "DE89 3704 0044 0532 0130 00",
    "4111 1111 1111 1111",
    "192.168.0.17",
    "2001:db8::1",
    "084-64-9050",
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv",
    "Password: P8NNuwPwo#",
    "Passwort: Ab\\cd12ef",  # a backslash must be escaped again inside raw JSON
]
# Strings a model or user may write that look like (parts of) placeholders.
TRICKY = ["<EMAIL_1>", "<PERSON_2>", "<EMA", "<", ">", "<<IBAN_1>>", "_1>", "<IP_ADDRESS_", "<lower_1>"]

fragments = st.one_of(
    st.sampled_from(VALUES),
    st.sampled_from(TRICKY),
    st.text(max_size=12),
    st.sampled_from([" ", "\n", ", ", ": ", "😀"]),
)
texts = st.lists(fragments, max_size=12).map("".join)

# All vault state is per session, so each example gets a fresh one.
_sessions = itertools.count()
_redactor = Redactor(MeshSettings(), vault=MemoryVault())
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def new_session() -> str:
    return f"prop-{next(_sessions)}"


def split_at(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(text[last:point])
        last = point
    pieces.append(text[last:])
    return pieces


@PROPERTY
@given(text=texts, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_stream_restore_is_exact(text: str, cuts: list[int]) -> None:
    session = new_session()
    masked = _redactor.mask_text(text, tenant="prop", session=session).text
    restorer = _redactor.stream_restorer(tenant="prop", session=session)
    out = [restorer.feed(piece) for piece in split_at(masked, cuts)]
    out.append(restorer.flush())
    assert "".join(out) == text
    assert _redactor.restore_text(masked, tenant="prop", session=session)[0] == text


@PROPERTY
@given(text=texts, order=st.randoms(use_true_random=False), cuts=st.lists(st.integers(0, 400), max_size=20))
def test_stream_restore_of_reordered_answer(text: str, order: Any, cuts: list[int]) -> None:
    # The model writes the placeholders in its own order, between its own words.
    session = new_session()
    result = _redactor.mask_text(text, tenant="prop", session=session)
    pairs = [(p, e.value) for p, e in zip(result.placeholders, result.entities, strict=True) if p]
    order.shuffle(pairs)
    answer = "".join(f"about {placeholder}, " for placeholder, _ in pairs)
    expected = "".join(f"about {value}, " for _, value in pairs)
    restorer = _redactor.stream_restorer(tenant="prop", session=session)
    out = "".join(restorer.feed(piece) for piece in split_at(answer, cuts)) + restorer.flush()
    assert out == expected
    assert restorer.restored == len(pairs)


json_values = st.recursive(
    st.one_of(texts, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@PROPERTY
@given(
    args=st.dictionaries(st.text(max_size=6), json_values, max_size=4), cuts=st.lists(st.integers(0, 800), max_size=20)
)
def test_tool_call_args_restore_is_exact(args: dict[str, Any], cuts: list[int]) -> None:
    session = new_session()
    masked_args, _ = _redactor.mask_json(args, tenant="prop", session=session)
    assert _redactor.restore_json(masked_args, tenant="prop", session=session)[0] == args

    # The model sends the masked arguments back in a tool call, whole or streamed.
    call = AIMessage("", tool_calls=[{"name": "lookup", "args": masked_args, "id": "c1"}])
    restored, _ = _redactor.restore_message(call, tenant="prop", session=session)
    assert isinstance(restored, AIMessage)
    assert restored.tool_calls[0]["args"] == args

    streamed = json.dumps(masked_args, ensure_ascii=False)
    restorer = _redactor.stream_restorer(tenant="prop", session=session, json_strings=True)
    chunks = [
        AIMessageChunk(content="", tool_call_chunks=[{"name": None, "args": piece, "id": None, "index": 0}])
        for piece in split_at(streamed, cuts)
    ]
    text = "".join(restorer.feed(chunk.tool_call_chunks[0]["args"] or "") for chunk in chunks) + restorer.flush()
    assert json.loads(text) == args
