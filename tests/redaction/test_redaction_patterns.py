"""The validated pattern detector: each label found, and look-alikes that fail their check ignored."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.iso7064 import mod_97_10

from mesh_agents.redaction import PatternDetector


@pytest.fixture(scope="module")
def detector() -> PatternDetector:
    return PatternDetector()


def found(detector: PatternDetector, text: str) -> list[tuple[str, str]]:
    return [(entity.label, entity.value) for entity in detector.detect(text)]


@pytest.mark.parametrize(
    ("text", "label", "value"),
    [
        ("write to anna.schmidt+news@mail.example.co.uk today", "email", "anna.schmidt+news@mail.example.co.uk"),
        ("Écrivez à zoë.lefèvre@exemple.fr.", "email", "zoë.lefèvre@exemple.fr"),
        ("call me at +1 757-482-0449 please", "phone", "+1 757-482-0449"),
        ("Telefon: (089) 382 94 18", "phone", "(089) 382 94 18"),
        ("Téléphone : 03 89 90 06 94", "phone", "03 89 90 06 94"),
        ("llamadme al 980081639 porfa", "phone", "980081639"),
        ("card 4111 1111 1111 1111 expires", "credit_card", "4111 1111 1111 1111"),
        ("Amex 3748 706226 09539.", "credit_card", "3748 706226 09539"),
        ("IBAN DE47 3511 7792 3615 4921 95 BIC XYZ", "iban", "DE47 3511 7792 3615 4921 95"),
        ("pay to FR2193140898829997879215224", "iban", "FR2193140898829997879215224"),
        ("our payroll file has 084-64-9050;", "national_id", "084-64-9050"),
        ("Steuer-ID: 27868130457", "national_id", "27868130457"),
        ("N° de sécurité sociale : 1 96 01 19 272 656 95", "national_id", "1 96 01 19 272 656 95"),
        ("NIE Y-0463437-R", "national_id", "Y-0463437-R"),
        ("codice fiscale TCCLNA25S14I210V, è", "national_id", "TCCLNA25S14I210V"),
        ("meu CPF é 309.944.286-00 caso", "national_id", "309.944.286-00"),
        ('"bsn": "257649815"', "national_id", "257649815"),
        ("PESEL: 66101277888", "national_id", "66101277888"),
        ("NHS number: 175 608 0755", "national_id", "175 608 0755"),
        ("from 192.168.242.248 at noon", "ip_address", "192.168.242.248"),
        ("host c79a:334f:c8a7:baa:4950:e5d9:a048:b38f up", "ip_address", "c79a:334f:c8a7:baa:4950:e5d9:a048:b38f"),
        ("loopback ::1 only", "ip_address", "::1"),
        ("key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv", "secret", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv"),
        ("id AKIAIOSFODNN7EXAMPLE set", "secret", "AKIAIOSFODNN7EXAMPLE"),
        ("token ghp_0123456789abcdefghijABCDEFGHIJ012345", "secret", "ghp_0123456789abcdefghijABCDEFGHIJ012345"),
        ('{"Authorization": "Bearer abcdef0123456789.xyz-_~"}', "secret", "abcdef0123456789.xyz-_~"),
        ("Password: P8NNuwPwo#\nCompany", "secret", "P8NNuwPwo#"),
        ("das Einmalpasswort ist Is2hK88j1jv%. Bitte", "secret", "Is2hK88j1jv%"),
        ("connecting to postgres://shop:hl3eObGb4ivN*@db-07.svc", "secret", "hl3eObGb4ivN*"),
        ("-----BEGIN RSA PRIVATE KEY-----\n\nmore", "secret", "-----BEGIN RSA PRIVATE KEY-----"),
    ],
)
def test_patterns_find_valid_value(detector: PatternDetector, text: str, label: str, value: str) -> None:
    assert (label, value) in found(detector, text)


def test_private_key_block_is_one_span(detector: PatternDetector) -> None:
    block = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----"
    assert found(detector, f"key:\n{block}\nthanks") == [("secret", block)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 expires",  # Luhn fails
        "ref 4995386149605652 in the batch",  # Luhn fails, bare digits
        "IBAN DE48 3511 7792 3615 4921 95",  # check digits wrong
        "dummy NL79 LKDP 8822 0136 61",  # check digits wrong
        "SSN 000-12-3456 is not issued",  # area 000 is never issued
        "codice fiscale TCCLNA25S14I210X",  # check letter wrong
        "CPF 309.944.286-01",  # check digits wrong
        "PESEL: 66101277889",  # check digit wrong
        "order 257649815 shipped",  # a valid BSN shape without its keyword
        "version 1.2.300.4 released",  # not an IPv4 address
        "at 12:30:45 the job ran",  # not an IPv6 address
        "order ORD-2024-118842 left",  # order numbers are not phone numbers
        "on 04.01.2023 we met",  # dates are not phone numbers
        "the password is incorrect",  # a plain word is not a password
        "the card **** **** **** 4242 and <EMAIL_1>",  # masked values
        "Passport number: 248816998",
    ],
)
def test_patterns_ignore_look_alike(detector: PatternDetector, text: str) -> None:
    assert found(detector, text) == []


def test_labels_argument_limits_labels(detector: PatternDetector) -> None:
    text = "anna@example.com, 192.168.0.1"
    assert found(detector, text) == [("email", "anna@example.com"), ("ip_address", "192.168.0.1")]
    assert [e.label for e in detector.detect(text, ["ip_address"])] == ["ip_address"]


def test_checksum_beats_phone_inside_iban(detector: PatternDetector) -> None:
    assert found(detector, "Telefon wie IBAN: DE89 3704 0044 0532 0130 00") == [("iban", "DE89 3704 0044 0532 0130 00")]


def test_offsets_are_code_points(detector: PatternDetector) -> None:
    text = "😀😀 mail anna@example.com"
    (entity,) = detector.detect(text)
    assert text[entity.start : entity.end] == "anna@example.com"


def test_entity_repr_hides_value(detector: PatternDetector) -> None:
    (entity,) = detector.detect("mail anna@example.com")
    assert "anna" not in repr(entity)
    assert entity.value == "anna@example.com"


def test_phone_regions_limit_national_formats() -> None:
    text = "Telefon: (089) 382 94 18"
    assert found(PatternDetector(phone_regions=["US"]), text) == []
    assert found(PatternDetector(phone_regions=["DE"]), text) == [("phone", "(089) 382 94 18")]


@pytest.mark.parametrize("region", ["US", "GB", "DE", "FR", "ES", "IT", "PT", "BR", "NL", "PL"])
def test_phone_example_numbers_found(detector: PatternDetector, region: str) -> None:
    # phonenumbers' own example numbers, which the detector rules were not tuned on.
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
        number = phonenumbers.example_number_for_type(region, kind)
        assert number is not None
        for style in (
            phonenumbers.PhoneNumberFormat.NATIONAL,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.E164,
        ):
            written = phonenumbers.format_number(number, style)
            assert found(detector, f"Please call me at {written} tomorrow.") == [("phone", written)]


def card_number(prefix: str, body: str) -> str:
    partial = (prefix + body)[:15]
    return partial + luhn.calc_check_digit(partial)


@settings(max_examples=80, deadline=None)
@given(
    prefix=st.sampled_from(["4", "51", "55", "2221", "6011", "35"]),
    body=st.text(alphabet="0123456789", min_size=14, max_size=14),
    position=st.integers(min_value=0, max_value=15),
    separator=st.sampled_from(["", " ", "-"]),
)
def test_card_found_only_with_valid_luhn(
    detector: PatternDetector, prefix: str, body: str, position: int, separator: str
) -> None:
    number = card_number(prefix, body)
    written = separator.join(number[i : i + 4] for i in range(0, 16, 4))
    assert found(detector, f"card {written} expires 12/29") == [("credit_card", written)]

    # Changing one digit breaks the Luhn check, so the number must not be reported.
    digit = str((int(number[position]) + 5) % 10)
    broken = number[:position] + digit + number[position + 1 :]
    written = separator.join(broken[i : i + 4] for i in range(0, 16, 4))
    assert ("credit_card", written) not in found(detector, f"card {written} expires 12/29")


# Countries whose BBAN has no national check digits of its own, so any digits do.
BBAN = {"DE": 18, "NL": 14, "PL": 24, "AT": 16, "GB": 18, "CH": 17, "IE": 18}


@settings(max_examples=80, deadline=None)
@given(
    country=st.sampled_from(sorted(BBAN)),
    seed=st.integers(min_value=0, max_value=10**30),
    position=st.integers(min_value=4, max_value=17),
)
def test_iban_found_only_with_valid_check_digits(
    detector: PatternDetector, country: str, seed: int, position: int
) -> None:
    iban = iban_for(country, seed)
    assert found(detector, f"Konto {iban} bitte") == [("iban", iban)]
    compact = iban.replace(" ", "")
    digit = str((int(compact[position]) + 1) % 10) if compact[position].isdigit() else "0"
    broken = compact[:position] + digit + compact[position + 1 :]
    assert found(detector, f"Konto {broken} bitte") == []


# Length of the account part (BBAN) per country.
def iban_for(country: str, seed: int) -> str:
    """Return a valid IBAN: a digit-only BBAN (letters where the format needs them) with its check digits."""
    digits = str(seed).rjust(30, "7")
    bban = digits[: BBAN[country]]
    if country == "NL":
        bban = "ABNA" + bban[4:]
    if country == "GB":
        bban = "NWBK" + bban[4:]
    if country == "IE":
        bban = "AIBK" + bban[4:]
    check = mod_97_10.calc_check_digits(bban + country)
    compact = country + check + bban
    assert stdnum_iban.is_valid(compact), compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
