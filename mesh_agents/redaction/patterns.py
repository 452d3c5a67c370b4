"""The validated pattern detector: shapes confirmed by checksums and parsers.

Every label has a shape (a regular expression) and a check that must pass before an
entity is reported: Luhn for payment cards, ISO 7064 for IBANs, python-stdnum for
national ids, ``phonenumbers`` for phone numbers, ``ipaddress`` for IP addresses. A
number that has the shape but fails its check is not reported.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

from mesh_agents.redaction.base import Entity
from mesh_agents.redaction.credentials import find_secrets
from mesh_agents.redaction.national_ids import KINDS, NationalIdKind, find_national_ids
from mesh_agents.redaction.schema import DEFAULT_PHONE_REGIONS, PATTERN_LABELS
from mesh_agents.redaction.spans import merge_entities

__all__ = ["PatternDetector"]

# Scores rank validated shapes above each other where spans overlap: a checksum beats
# a phone number, which any digit run of the right length may resemble.
_SCORES = {
    "email": 0.99,
    "credit_card": 0.99,
    "iban": 0.99,
    "secret": 0.98,
    "national_id": 0.97,
    "ip_address": 0.95,
    "phone": 0.9,
}

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]*\w@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])")
_URL_USER = re.compile(r"://[^\s/@]*:$")

_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\d]|-\d)")

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![a-z0-9])")

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d|\w)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")

# Digits a phone number needs. Valid local numbers of 7 digits exist, but in running
# text they are far more often order numbers and postcodes.
# NOTE: a number written without its area code (7 digits or fewer) is therefore missed.
_MIN_PHONE_DIGITS = 8
_DIGIT_RUN = re.compile(r"\d")
# A run that is not one number as a whole is searched for numbers inside it only when
# it has room for a number and another group of digits.
_MIN_RUN_DIGITS_TO_SPLIT = 12
# E.164 allows 15 digits, plus two for an international prefix written as 00.
_MAX_PHONE_DIGITS = 17
_GROUP = re.compile(r"\S+")
_PHONE_RUN = re.compile(r"(?:\+|\(\+?)?\d[\d \t\u00a0().\-/]{5,}\d\)?")
_DATE = re.compile(r"\d{1,2}([./-])\d{1,2}\1\d{2,4}|\d{4}-\d{2}-\d{2}")
_LENIENCY = phonenumbers.Leniency.VALID
_IBAN_PREFIX = re.compile(r"[A-Z]{2}\d{2}[ A-Z0-9]*$")
_PHONE_WORDS = re.compile(
    r"(?i)tel|phone|fon|fono|mobil|móvil|movil|cell|handy|llam|chiam|lig|bel|zadzwo|call|fax|whatsapp|"
    r"num|núm|nr|kontakt|contact|contatto|contacto"
)
# Words that name another kind of number, checked after the phone words.
_OTHER_NUMBER_WORDS = re.compile(
    r"(?i)pass|pasap|paspo|paszp|reisepass|order|invoice|rechnung|factur|fattur|pedido|bestell|zamów|ticket|"
    r"iban|konto|account|cuenta|conta|compte|rekening"
)


class PatternDetector:
    """Finds email addresses, phone numbers, cards, IBANs, national ids, IP addresses and secrets.

    Args:
        phone_regions: Regions whose national phone formats are recognised (ISO 3166-1
            alpha-2). Numbers written with ``+`` and a country code are found for any region.
        national_ids: Kinds of national id to look for; defaults to every supported kind.
    """

    name = "patterns"
    labels: tuple[str, ...] = PATTERN_LABELS

    def __init__(
        self,
        *,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
        national_ids: tuple[NationalIdKind, ...] = KINDS,
    ) -> None:
        self.phone_regions = tuple(region.upper() for region in phone_regions) or ("US",)
        self.national_ids = national_ids
        # phonenumbers loads a region's metadata on first use, 10 to 20 ms each; load
        # it here so the first requests do not pay for it.
        for region in self.phone_regions:
            phonenumbers.PhoneMetadata.metadata_for_region(region)

    def detect(self, text: str, labels: Sequence[str] | None = None) -> list[Entity]:
        """Return the validated entities in ``text``, without overlaps, sorted by start."""
        requested = set(self.labels if labels is None else labels) & set(self.labels)
        found: list[Entity] = []
        for label in self.labels:
            if label not in requested or label == "phone":
                continue
            for start, end in _FINDERS[label](self, text):
                found.append(Entity(label, start, end, _SCORES[label], self.name, text[start:end]))
        if "phone" in requested:
            # Phones last: digits already inside a card, IBAN, id or address are skipped.
            taken = [(entity.start, entity.end) for entity in found]
            for start, end in self._phones(text, taken):
                found.append(Entity("phone", start, end, _SCORES["phone"], self.name, text[start:end]))
        return merge_entities(found)

    def _emails(self, text: str) -> Iterator[tuple[int, int]]:
        if "@" not in text:
            return
        for match in _EMAIL.finditer(text):
            # In scheme://user:password@host the part before @ is a password, not a mailbox.
            if _URL_USER.search(text, max(0, match.start() - 200), match.start()):
                continue
            yield match.span()

    def _phones(self, text: str, taken: Sequence[tuple[int, int]] = ()) -> Iterator[tuple[int, int]]:
        if len(_DIGIT_RUN.findall(text)) < _MIN_PHONE_DIGITS:
            return
        seen: set[tuple[int, int]] = set()
        # PhoneNumberMatcher over a whole text costs milliseconds per run of digits,
        # because it tries every piece of every run in every region. So each run of
        # digits and separators is parsed whole first, and only a run that is not one
        # number is tried without its last group ("030 1234567 12").
        for candidate in _PHONE_RUN.finditer(text):
            if not _may_hold_phone(text, candidate):
                continue
            if any(start <= candidate.start() and candidate.end() <= end for start, end in taken):
                continue
            span = self._number_in(text, *candidate.span())
            if span is None and sum(c.isdigit() for c in candidate.group()) >= _MIN_RUN_DIGITS_TO_SPLIT:
                groups = list(_GROUP.finditer(candidate.group()))
                offset = candidate.start()
                if len(groups) > 1:
                    span = self._number_in(text, offset + groups[0].start(), offset + groups[-2].end())
            if span is not None and span not in seen:
                seen.add(span)
                yield span

    def _number_in(self, text: str, start: int, end: int) -> tuple[int, int] | None:
        """Return the span when ``text[start:end]`` is one valid phone number, else None.

        The piece is parsed for each region in turn. In the first region where it is a
        valid number, ``PhoneNumberMatcher`` (VALID leniency) confirms it on just this
        piece, which also checks grouping and national prefixes.
        """
        written = text[start:end]
        if written.startswith("(") and written.endswith(")") and written.find(")") == len(written) - 1:
            start, end = start + 1, end - 1
        elif written.startswith("(") and written.count("(") > written.count(")"):
            start += 1
        elif written.endswith(")") and written.count(")") > written.count("("):
            end -= 1
        written = text[start:end]
        if sum(c.isdigit() for c in written) > _MAX_PHONE_DIGITS:
            return None
        # A number with a country code parses the same for every region.
        regions = self.phone_regions[:1] if written.startswith("+") else self.phone_regions
        for region in regions:
            try:
                number = phonenumbers.parse(written, region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_valid_number(number):
                continue
            for match in phonenumbers.PhoneNumberMatcher(written, region, leniency=_LENIENCY):
                if match.start == 0 and match.end == len(written):
                    return _plausible_phone(text, start, end)
        return None

    def _cards(self, text: str) -> Iterator[tuple[int, int]]:
        for match in _CARD.finditer(text):
            written = match.group()
            # One kind of separator throughout, as cards are printed.
            if " " in written and "-" in written:
                continue
            digits = written.replace(" ", "").replace("-", "")
            if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
                yield match.span()

    def _ibans(self, text: str) -> Iterator[tuple[int, int]]:
        for match in _IBAN.finditer(text):
            # The shape may run into a following upper-case word ("... 95 BIC"), so
            # shorten the candidate from the right until the check digits agree.
            written = match.group()
            for end in range(len(written), 14, -1):
                if written[end - 1] == " ":
                    continue
                if stdnum_iban.is_valid(written[:end]):
                    yield match.start(), match.start() + end
                    break

    def _national_ids(self, text: str) -> Iterator[tuple[int, int]]:
        for start, end, _kind in find_national_ids(text, self.national_ids):
            yield start, end

    def _ips(self, text: str) -> Iterator[tuple[int, int]]:
        if "." in text:
            for match in _IPV4.finditer(text):
                try:
                    ipaddress.IPv4Address(match.group())
                except ValueError:
                    continue
                yield match.span()
        if "::" in text or text.count(":") >= 7:
            for match in _IPV6.finditer(text):
                candidate = match.group()
                if not any(c.isalnum() for c in candidate):
                    continue
                try:
                    ipaddress.IPv6Address(candidate)
                except ValueError:
                    continue
                yield match.span()

    def _secrets(self, text: str) -> Iterator[tuple[int, int]]:
        for start, end, _kind in find_secrets(text):
            yield start, end


def _may_hold_phone(text: str, run: re.Match[str]) -> bool:
    """Return whether ``_plausible_phone`` could accept any number inside ``run``.

    This skips the slow matcher for runs it would only find look-alikes in.
    """
    written = run.group()
    if sum(c.isdigit() for c in written) < _MIN_PHONE_DIGITS or _DATE.fullmatch(written):
        return False
    if written.isdigit():
        return _plausible_phone(text, run.start(), run.end()) is not None
    before = text[run.start() - 1] if run.start() > 0 else " "
    glued = before.isalnum() or before in "-/_."
    # Inside a run without white space, every number is glued to what precedes it.
    return not (glued and not any(c.isspace() for c in written))


def _plausible_phone(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Return the span of a phone number ``phonenumbers`` found, or None for a look-alike.

    ``phonenumbers`` accepts any digit run that fits a numbering plan, so order numbers
    (``ORD-2024-118842``), dates, postcodes and pieces of IBANs pass its check. This
    keeps numbers that stand alone, and bare digit runs only after a word such as
    "phone", "Tel." or "llamadme".
    """
    written = text[start:end]
    if written.startswith("(") and ")" not in written:
        start += 1
        written = written[1:]
    digits = sum(c.isdigit() for c in written)
    if digits < _MIN_PHONE_DIGITS or _DATE.fullmatch(written):
        return None
    # Dots and dashes together are the shape of an id such as a Brazilian CPF (309.944.286-00).
    if "." in written and "-" in written and not written.startswith("+"):
        return None
    before = text[start - 1] if start > 0 else " "
    after = text[end : end + 2]
    if before.isalnum() or before in "-/_." or (after[:1].isalnum()) or re.match(r"[-/.]\d", after):
        return None
    if _IBAN_PREFIX.search(text, max(0, start - 40), start):
        return None
    # Bare digit runs and slashed numbers ("FT 2024/00871") need a phone word before them.
    if (written.isdigit() or "/" in written) and not written.startswith("0"):
        line_start = text.rfind("\n", 0, start) + 1
        window = text[max(line_start, start - 40) : start]
        if not _PHONE_WORDS.search(window) or _OTHER_NUMBER_WORDS.search(window):
            return None
    return start, end


_FINDERS = {
    "email": PatternDetector._emails,
    "credit_card": PatternDetector._cards,
    "iban": PatternDetector._ibans,
    "national_id": PatternDetector._national_ids,
    "ip_address": PatternDetector._ips,
    "secret": PatternDetector._secrets,
}
