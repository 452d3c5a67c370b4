"""Detection on the normalised view: full-width and split values, offsets mapped back exactly."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_agents.redaction import RedactionSettings, Redactor
from mesh_agents.redaction.normalize import normalize_for_detection
from mesh_agents.settings import MeshSettings

FULL_WIDTH = "ＪＯＨＮ＠ＥＸＡＭＰＬＥ．ＣＯＭ"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(MeshSettings())


def masked_and_restored(redactor: Redactor, text: str) -> tuple[str, str]:
    masked = redactor.mask_text(text, tenant="acme", session="s1").text
    return masked, redactor.restore_text(masked, tenant="acme", session="s1")[0]


def test_full_width_email_is_masked(redactor: Redactor) -> None:
    text = f"write to {FULL_WIDTH} today"
    masked, restored = masked_and_restored(redactor, text)
    assert masked == "write to <EMAIL_1> today"
    assert restored == text


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e"])
def test_zero_width_inside_email_masked(redactor: Redactor, invisible: str) -> None:
    text = f"mail john{invisible}.doe@example.com now"
    masked, restored = masked_and_restored(redactor, text)
    assert masked == "mail <EMAIL_1> now"
    assert "john" not in masked
    assert restored == text


def test_split_iban_and_phone_are_masked(redactor: Redactor) -> None:
    text = "IBAN DE89\u200b3704 0044 0532 0130 00, tel \u2066+49 30 901820\u2069."
    masked, restored = masked_and_restored(redactor, text)
    assert masked == "IBAN <IBAN_1>, tel \u2066<PHONE_1>\u2069."
    assert restored == text


def test_allow_list_matches_full_width_value() -> None:
    policy = RedactionSettings(allow_list=["john@example.com"])
    redactor = Redactor(MeshSettings(redaction=policy))
    text = f"write to {FULL_WIDTH}"
    assert redactor.mask_text(text, tenant="acme", session="s1").text == text


def test_normalize_text_off_reads_raw() -> None:
    redactor = Redactor(MeshSettings(redaction=RedactionSettings(normalize_text=False)))
    masked = redactor.mask_text(f"write to {FULL_WIDTH}", tenant="acme", session="s1").text
    assert FULL_WIDTH in masked


def test_view_of_clean_text_is_the_text() -> None:
    for text in ["plain ascii", "Grüße aus Köln"]:
        view = normalize_for_detection(text)
        assert view.text == text
        assert view.is_identity
        assert view.original_span(2, 5) == (2, 5)


def test_view_maps_expansions_back() -> None:
    text = "\ufb01x e\u0301\u200bz \uff21"  # "ﬁ" expands to two characters, e + accent composes to one
    view = normalize_for_detection(text)
    assert view.text == "fix \u00e9z A"
    assert view.original_span(1, 3) == (0, 2)  # "ix" starts inside "ﬁ", so the whole "ﬁ" is taken
    assert view.original_span(4, 5) == (3, 5)  # "é" comes from "e" and the combining accent
    assert view.original_span(5, 6) == (6, 7)  # "z", after the removed zero-width space
    assert view.original_span(7, 8) == (8, 9)


disguises = st.sampled_from(["\u200b", "\u200d", "\u202e", "\ufeff", "\u00ad", "\ufb01", "e\u0301", "\uff21", "\u2460"])


@settings(max_examples=100, deadline=None)
@given(text=st.lists(st.one_of(disguises, st.text(max_size=6)), max_size=12).map("".join))
def test_view_spans_cover_their_characters(text: str) -> None:
    view = normalize_for_detection(text)
    for index, character in enumerate(view.text):
        start, end = view.original_span(index, index + 1)
        assert 0 <= start < end <= len(text)
        # Each view character comes from the original characters its span covers.
        assert character in unicodedata.normalize("NFKC", text[start:end])
