"""The demo's request file: size, tenants, languages, valid synthetic personal data, and the generator."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from stdnum import iban, luhn

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = ROOT / "examples" / "data" / "requests.jsonl"
GENERATOR = ROOT / "examples" / "data" / "generate_requests.py"

IBAN_TEXT = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[0-9A-Z]{4}){3,7}(?: ?[0-9A-Z]{1,3})?\b")
CARD_TEXT = re.compile(r"\b4000(?: \d{4}){3}\b")
EMAIL_TEXT = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in REQUESTS.read_text(encoding="utf-8").splitlines()]


def test_requests_file_matches_generator(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate_requests", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.OUTPUT = tmp_path / "requests.jsonl"  # type: ignore[attr-defined]
    module.main()
    assert module.OUTPUT.read_text(encoding="utf-8") == REQUESTS.read_text(encoding="utf-8")


def test_requests_cover_demo_needs(records: list[dict[str, Any]]) -> None:
    assert len(records) >= 60
    assert len({record["id"] for record in records}) == len(records)
    assert len({record["tenant"] for record in records}) >= 3
    assert len({record["language"] for record in records}) >= 3
    tags = Counter(tag for record in records for tag in record["tags"])
    assert tags["injection"] >= 2
    assert tags["tool_injection"] >= 2
    assert tags["complex"] >= 3
    assert tags["near_duplicate"] >= 10
    assert tags["pii"] >= 10
    assert tags["budget"] >= 2


def test_records_have_schema(records: list[dict[str, Any]]) -> None:
    required = {"id", "tenant", "user", "session", "language", "text", "tags"}
    optional = {"tool_result"}
    for record in records:
        assert required <= set(record), record["id"]
        assert set(record) <= required | optional, record["id"]
        assert record["text"].strip(), record["id"]


def test_tool_injections_sit_in_tool_result(records: list[dict[str, Any]]) -> None:
    for record in records:
        if "tool_injection" in record["tags"]:
            assert record.get("tool_result"), record["id"]


def test_ibans_are_valid(records: list[dict[str, Any]]) -> None:
    found = [match for record in records for match in IBAN_TEXT.findall(record["text"])]
    assert len(found) >= 4
    for value in found:
        assert iban.is_valid(value), value


def test_cards_pass_luhn(records: list[dict[str, Any]]) -> None:
    found = [match for record in records for match in CARD_TEXT.findall(record["text"])]
    assert len(found) >= 3
    for value in found:
        assert luhn.is_valid(value.replace(" ", "")), value


def test_emails_use_reserved_domains(records: list[dict[str, Any]]) -> None:
    domains = {domain for record in records for domain in EMAIL_TEXT.findall(record["text"])}
    assert domains
    assert domains <= {"example.com", "example.org", "example.net"}


def test_phone_numbers_are_valid(records: list[dict[str, Any]]) -> None:
    regions = {"en": "US", "de": "DE", "fr": "FR", "es": "ES"}
    found = 0
    for record in records:
        for match in phonenumbers.PhoneNumberMatcher(record["text"], regions[record["language"]]):
            found += 1
            assert phonenumbers.is_valid_number(match.number), record["id"]
    assert found >= 6
