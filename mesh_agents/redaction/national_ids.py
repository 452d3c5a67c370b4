"""National identity and tax numbers, found by shape and confirmed by python-stdnum.

Each kind has a regular expression for its written shape and the python-stdnum module
that checks its check digits. A number that fails the check is not reported.

Shapes that are only digits (a Dutch BSN, a Polish PESEL, a German Steuer-ID) pass
some check by chance for roughly one random number in ten, so they count only when a
keyword for that kind of number appears shortly before them ("BSN", "PESEL",
"Steuer-ID", a JSON key such as ``"nif"``). Shapes with separators or letters (an SSN
written ``123-45-6789``, an Italian codice fiscale) count without a keyword.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType

from stdnum.br import cpf
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel
from stdnum.pt import cc, nif
from stdnum.us import ssn

__all__ = ["NationalIdKind", "find_national_ids"]

# How far before a number its keyword may stand, in characters.
_KEYWORD_WINDOW = 60


@dataclass(frozen=True)
class NationalIdKind:
    """One kind of national id.

    Attributes:
        name: python-stdnum module path, such as ``"nl.bsn"``.
        shape: Regular expression for the written number.
        validate: Returns whether the matched text is a valid number of this kind.
        keywords: When set, a match counts only if one of these appears shortly before it.
    """

    name: str
    shape: re.Pattern[str]
    validate: Callable[[str], bool]
    keywords: re.Pattern[str] | None = None


def _valid(module: ModuleType) -> Callable[[str], bool]:
    is_valid: Callable[[str], bool] = module.is_valid
    return is_valid


def _keywords(*words: str) -> re.Pattern[str]:
    return re.compile(r"(?i)(?<![^\W_])(?:" + "|".join(words) + r")(?![^\W\d_])")


_D = r"(?<![\w.,/+-])"  # not glued to a longer token on the left
_E = r"(?![\w/]|[.,-]\w)"  # nor on the right; a sentence full stop may follow

KINDS: tuple[NationalIdKind, ...] = (
    NationalIdKind("us.ssn", re.compile(_D + r"\d{3}-\d{2}-\d{4}" + _E), _valid(ssn)),
    NationalIdKind(
        "us.ssn",
        re.compile(_D + r"\d{3} ?\d{2} ?\d{4}" + _E),
        _valid(ssn),
        _keywords("ssn", "social security", "soc\\.? ?sec"),
    ),
    NationalIdKind(
        "gb.nhs",
        re.compile(_D + r"\d{3}[ -]?\d{3}[ -]?\d{4}" + _E),
        _valid(nhs),
        _keywords("nhs"),
    ),
    NationalIdKind(
        "de.idnr",
        re.compile(_D + r"\d{2} ?\d{3} ?\d{3} ?\d{3}" + _E),
        _valid(idnr),
        _keywords(
            "steuer-?id",
            "steuer-identifikationsnummer",
            "steueridentifikationsnummer",
            "identifikationsnummer",
            "idnr",
            "steuer_id",
            "tax id",
            "tin",
        ),
    ),
    NationalIdKind(
        "fr.nir",
        re.compile(_D + r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2A|2B) ?\d{3} ?\d{3} ?\d{2}" + _E),
        _valid(nir),
    ),
    NationalIdKind("es.dni", re.compile(_D + r"\d{8}-?[A-Za-z]" + _E), _valid(dni)),
    NationalIdKind("es.nie", re.compile(_D + r"[XYZxyz]-?\d{7}-?[A-Za-z]" + _E), _valid(nie)),
    NationalIdKind(
        "it.codicefiscale",
        re.compile(
            r"(?<![A-Za-z0-9])[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"
            r"(?![A-Za-z0-9])"
        ),
        _valid(codicefiscale),
    ),
    NationalIdKind(
        "pt.nif",
        re.compile(_D + r"\d{3} ?\d{3} ?\d{3}" + _E),
        _valid(nif),
        _keywords("nif", "contribuinte", "n\\.?º? ?fiscal", "número fiscal", "tax id", "nipc"),
    ),
    # The two version characters of a Cartão de Cidadão number include a letter.
    NationalIdKind("pt.cc", re.compile(_D + r"\d{8} ?\d ?(?:[A-Z][A-Z0-9]|\d[A-Z])\d" + _E), _valid(cc)),
    NationalIdKind("br.cpf", re.compile(_D + r"\d{3}\.\d{3}\.\d{3}-\d{2}" + _E), _valid(cpf)),
    NationalIdKind("br.cpf", re.compile(_D + r"\d{11}" + _E), _valid(cpf), _keywords("cpf")),
    NationalIdKind(
        "nl.bsn",
        re.compile(_D + r"(?:\d{4}\.\d{2}\.\d{3}|\d{9})" + _E),
        _valid(bsn),
        _keywords("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer"),
    ),
    NationalIdKind("pl.pesel", re.compile(_D + r"\d{11}" + _E), _valid(pesel), _keywords("pesel")),
)


def find_national_ids(text: str, kinds: tuple[NationalIdKind, ...] = KINDS) -> Iterator[tuple[int, int, str]]:
    """Yield ``(start, end, kind name)`` for each valid national id in ``text``.

    Spans of different kinds may overlap; the caller keeps one.
    """
    for kind in kinds:
        for match in kind.shape.finditer(text):
            value = match.group()
            if not kind.validate(value):
                continue
            if kind.keywords is not None and not kind.keywords.search(_context_before(text, match.start())):
                continue
            yield match.start(), match.end(), kind.name


def _context_before(text: str, start: int) -> str:
    """Return the text before ``start`` on the same line and in the same JSON field."""
    window = text[max(0, start - _KEYWORD_WINDOW) : start]
    window = window[window.rfind("\n") + 1 :]
    field_end = max(window.rfind('",'), window.rfind('\\",'))
    return window[field_end + 1 :] if field_end >= 0 else window
