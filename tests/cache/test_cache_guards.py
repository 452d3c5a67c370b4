"""Hard-negative guards: each refuses its kind of change and lets rewording pass."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from mesh_agents.cache.guards import (
    GUARD_NAMES,
    RULE_GUARDS,
    WordChangeGuard,
    first_refusal,
    normalize_text,
    request_core,
    select_guards,
)
from mesh_agents.cache.schema import GUARD_NAMES as SETTINGS_GUARD_NAMES
from mesh_agents.cache.schema import CacheSettings
from mesh_agents.errors import ConfigurationError

REFUSED = [
    ("number", "Escalate all tickets with priority 2.", "Escalate all tickets with priority 1."),
    ("number", "Show invoice 48213.", "Show invoice 48231."),
    ("number", "Does the match statement work in Python 3.9?", "Does the match statement work in Python 3.10?"),
    ("number", "Book a five-day trip.", "Book a 4-day trip."),
    ("negation", "List vendors that are VAT registered.", "List vendors that are not VAT registered."),
    ("negation", "Approve the refund for order 12.", "Deny the refund for order 12."),
    ("negation", "Ajoute que le contrat n'est pas cessible.", "Ajoute que le contrat est cessible."),
    ("negation", "Write a rule that blocks port 22.", "Write a rule that allows port 22."),
    ("negation", "Mark the opportunity as won.", "Mark the opportunity as lost."),
    ("entity", "Is Zoom approved for client meetings?", "Is Webex approved for client meetings?"),
    ("entity", "Give Julien Martin access.", "Give Julie Martin access."),
    ("entity", "Summarise the Whitfield lease.", "Summarise the Hartmann lease."),
    ("entity", "Wer vertritt Herrn Weber?", "Wer vertritt Herrn Wagner?"),
    ("entity", "Reset MFA for j.smith@example.com.", "Reset MFA for j.smyth@example.com."),
    ("direction", "Convert 100 USD to EUR.", "Convert 100 EUR to USD."),
    ("direction", "Find a train from Frankfurt to Cologne.", "Find a train from Cologne to Frankfurt."),
    ("direction", "Merge `feature/login` into `main`.", "Merge `main` into `feature/login`."),
    ("direction", "Tell the customer we owe them 40 euros.", "Tell the customer they owe us 40 euros."),
    ("direction", "Which employees did Tomás Silva mentor?", "Who mentored Tomás Silva?"),
    ("time", "What is on the menu today?", "What is on the menu tomorrow?"),
    ("time", "Summarize the updates from this week.", "Summarize the updates from last week."),
    ("time", "Show the forecast for Q4.", "Show the forecast for Q3."),
    ("time", "Qui est d'astreinte le week-end prochain ?", "Qui est d'astreinte ce week-end ?"),
    ("scope", "Run the tests of the whole project.", "Run only the integration tests of the project."),
    ("scope", "Notify every customer affected.", "Notify the enterprise customers affected."),
    ("format", "List the packages. Answer in JSON.", "List the packages. Answer in one sentence."),
    ("format", "Give the top five reasons. Answer in English.", "Give the top five reasons. Answer in German."),
    ("format", "Show the risks as a table.", "Show the risks in a single paragraph."),
    ("format", "What is the burn rate? Respond with just the number.", "What is the burn rate?"),
]

PASSED = [
    ("number", "Move 10,000 euros now.", "Move 10.000 euros now."),
    ("number", "Nominate one colleague for an award.", "Nominate a colleague for an award."),
    ("negation", "Is it not too much trouble to reset my password?", "Reset my password."),
    ("negation", "Does the agreement permit us to end it early?", "Does the contract allow us to terminate early?"),
    ("entity", "Why does `pd.read_csv` fail in Pyhton?", "Why does `pd.read_csv` fail in Python?"),
    ("entity", "Top products in the Nordics?", "Top products in the Nordic region?"),
    ("entity", "Wie lösche ich einen Branch mit Git?", "Wie lösche ich einen Branch in Git?"),
    ("direction", "Reset my password and unlock my account.", "Unlock my account and reset my password."),
    ("direction", "How do I make a virtual environment in Python?", "How do I make a Python virtual environment?"),
    ("time", "Book a desk for next Tuesday.", "Book a desk for next Tuesday, please."),
    ("time", "Rent a car for tomorrow morning.", "Rent a car for tomorrow."),
    ("scope", "Close every ticket resolved last month.", "Close all tickets resolved last month."),
    ("scope", "Outlook asks for my password all the time.", "Outlook keeps asking for my password."),
    ("format", "List the open invoices.", "Show the open invoices."),
    ("format", "What is my cost center number?", "Where do I find my cost center code?"),
]


@pytest.mark.parametrize(("name", "query", "candidate"), REFUSED)
def test_guard_refuses_hard_negative(name: str, query: str, candidate: str) -> None:
    assert RULE_GUARDS[name].conflicts(query, candidate)
    assert RULE_GUARDS[name].conflicts(candidate, query)


@pytest.mark.parametrize(("name", "query", "candidate"), PASSED)
def test_guard_passes_same_request(name: str, query: str, candidate: str) -> None:
    assert not RULE_GUARDS[name].conflicts(query, candidate)


def test_word_change_refuses_added_qualifier() -> None:
    guard = WordChangeGuard()
    assert guard.conflicts(
        "Which of our supplier contracts have this clause?", "Which of our contracts have this clause?"
    )
    assert guard.conflicts(
        "Forward this complaint to the shipping team.", "Forward this complaint to the billing team."
    )


def test_word_change_ignores_typos_and_rewording() -> None:
    guard = WordChangeGuard()
    assert not guard.conflicts("Please send me the invoice for order 7741.", "Pleas send me the invoce for order 7741.")
    assert not guard.conflicts(
        "How can I reset the password I use for the VPN?", "I forgot my VPN password. How do I reset it?"
    )
    assert not guard.conflicts("Could you please fix my slow laptop?", "hey my laptop is super slow, any quick fix?")


class _TableVectorizer:
    """Returns fixed unit vectors for known words, so the synonym test needs no model."""

    name = "table"
    dims = 2

    def __init__(self, table: dict[str, tuple[float, float]]) -> None:
        self.table = table

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        rows = np.array([self.table[text] for text in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_word_change_accepts_synonym_swap() -> None:
    vectorizer = _TableVectorizer({"cheap": (1.0, 0.1), "inexpensive": (1.0, 0.2), "luxury": (0.0, 1.0)})
    guard = WordChangeGuard(vectorizer)
    assert not guard.conflicts("Find a cheap hotel in Munich.", "Find an inexpensive hotel in Munich.")
    assert guard.conflicts("Find a cheap hotel in Munich.", "Find a luxury hotel in Munich.")
    assert WordChangeGuard().conflicts("Find a cheap hotel in Munich.", "Find an inexpensive hotel in Munich.")


def test_request_core_drops_greetings() -> None:
    text = "Hi there! Hope you're having a good day. How do I book a desk for next Tuesday? Thanks so much!"
    assert request_core(text) == "How do I book a desk for next Tuesday?"
    assert request_core("Thanks!") == "Thanks!"


def test_first_refusal_names_first_guard() -> None:
    guards = select_guards(GUARD_NAMES)
    assert first_refusal(guards, "Approve refund 12.", "Deny refund 13.") == "number"
    assert first_refusal(guards, "Hi! Who approves travel? Thanks!", "Who approves travel?") is None


def test_select_guards_rejects_unknown_name() -> None:
    with pytest.raises(ConfigurationError, match="unknown cache guard 'colour'"):
        select_guards(["number", "colour"])


def test_settings_list_every_guard() -> None:
    assert SETTINGS_GUARD_NAMES == GUARD_NAMES
    with pytest.raises(ValueError, match="unknown cache guards"):
        CacheSettings(guards=["colour"])


def test_normalize_text_folds_case_and_space() -> None:
    assert normalize_text("  How do I\treset my   VPN password? ") == "how do i reset my vpn password?"
