"""Hard-negative guards: cheap, explainable checks that refuse a semantic hit.

Two requests can be close in embedding space and still need different answers:
"approve the refund" and "deny the refund", "USD to EUR" and "EUR to USD",
"invoice 48213" and "invoice 48231". Each guard extracts one kind of fact from both
texts (the numbers, the negations, the named entities, the directions, the time
expressions, the quantifiers, the demanded output format) and refuses the hit when the
facts differ. A guard only ever turns a hit into a miss, so a false refusal costs one
model call and a false pass is what the guards exist to stop.

The lexicons cover English, German, French and Spanish.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from mesh_agents.errors import ConfigurationError

__all__ = ["GUARDS", "Guard", "first_refusal", "normalize_text"]

_WORD = re.compile(r"[^\W_](?:[\w@.'/-]*[^\W_])?|`[^`]+`")


def normalize_text(text: str) -> str:
    """Fold a prompt for the exact-match key: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _tokens(text: str) -> list[str]:
    return [token.strip("`'.").casefold() for token in _WORD.findall(unicodedata.normalize("NFKC", text))]


def _raw_tokens(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text))


@dataclass(frozen=True)
class Guard:
    """A named check; ``conflicts(query, candidate)`` is True when the hit must be refused."""

    name: str
    conflicts: Callable[[str, str], bool]


# Numbers: digits (amounts, ids, versions, percentages) and small number words.

_NUMBER_WORDS = {
    "zero": "0", "null": "0", "zéro": "0", "cero": "0",
    "one": "1", "eins": "1", "ein": "1", "eine": "1", "un": "1", "une": "1", "uno": "1", "una": "1",
    "two": "2", "zwei": "2", "deux": "2", "dos": "2", "three": "3", "drei": "3", "trois": "3", "tres": "3",
    "four": "4", "vier": "4", "quatre": "4", "cuatro": "4", "five": "5", "fünf": "5", "cinq": "5", "cinco": "5",
    "six": "6", "sechs": "6", "seis": "6", "seven": "7", "sieben": "7", "sept": "7", "siete": "7",
    "eight": "8", "acht": "8", "huit": "8", "ocho": "8", "nine": "9", "neun": "9", "neuf": "9", "nueve": "9",
    "ten": "10", "zehn": "10", "dix": "10", "diez": "10", "eleven": "11", "twelve": "12", "dozen": "12",
    "twenty": "20", "fifty": "50", "hundred": "100",
    "first": "1st", "erste": "1st", "ersten": "1st", "premier": "1st", "première": "1st", "primer": "1st",
    "primera": "1st", "second": "2nd", "zweite": "2nd", "zweiten": "2nd", "deuxième": "2nd", "segunda": "2nd",
    "segundo": "2nd", "third": "3rd", "dritte": "3rd", "troisième": "3rd", "tercer": "3rd", "tercera": "3rd",
    "half": "1/2", "hälfte": "1/2", "moitié": "1/2", "mitad": "1/2", "quarter": "1/4",
}  # fmt: skip
# Words that read as numbers in one language and as articles in another are only
# counted where no article reading exists in the four languages.
_AMBIGUOUS_NUMBER_WORDS = {"ein", "eine", "un", "une", "uno", "una", "dos", "second", "quarter", "first"}
_DIGITS = re.compile(r"\d+(?:[.,:/]\d+)*")


def _numbers(text: str) -> set[str]:
    found: set[str] = set()
    for match in _DIGITS.findall(text):
        # "10,000" and "10.000" are the same amount; "3.10" (a version) keeps its dot.
        grouped = re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", match)
        found.add(re.sub(r"[.,]", "", match) if grouped else match.replace(",", "."))
    for token in _tokens(text):
        value = _NUMBER_WORDS.get(token)
        if value is not None and token not in _AMBIGUOUS_NUMBER_WORDS:
            found.add(value)
    return found


def _number_conflict(query: str, candidate: str) -> bool:
    return _numbers(query) != _numbers(candidate)


# Negation and polarity: "not", "no", "without", prefixes like "non-", and antonym pairs.

_NEGATORS = {
    "not", "no", "never", "none", "nor", "without", "cannot", "n't", "nothing", "nobody",
    "nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals", "ohne", "nichts",
    "pas", "jamais", "sans", "aucun", "aucune", "non", "rien",
    "nunca", "sin", "ningún", "ninguno", "ninguna", "nada",
}  # fmt: skip
_CONTRACTIONS = re.compile(r"\b\w+n't\b", re.IGNORECASE)
# Phrases in which "no" is politeness, not a negation.
_POLITE_NO = re.compile(r"\b(no (problem|worries|rush|hurry)|not too much trouble|if it'?s not)\b", re.IGNORECASE)
# Antonym stems: each pair is (positive stems, negative stems).
_POLARITY: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("approv", "accept", "grant", "genehmig", "approuv", "aprob", "acept"),
     ("deny", "denie", "declin", "reject", "refus", "ablehn", "lehne", "rechaz", "deneg")),
    (("allow", "permit", "enabl", "unblock", "unlock", "erlaub", "autoris", "permet", "permit", "habilit"),
     ("block", "forbid", "prohibit", "disabl", "lock", "verbiet", "sperr", "bloqu", "interdi", "prohib")),
    (("includ", "add", "enthalt", "inclu", "ajout", "añad", "agreg"),
     ("exclud", "remov", "delet", "ausschl", "entfern", "lösch", "exclu", "supprim", "elimin", "borr")),
    (("won", "win", "gewonn", "gagn", "ganad"), ("lost", "lose", "verlor", "perdu", "perdid")),
    (("increas", "rais", "erhöh", "augment", "aument"), ("decreas", "reduc", "lower", "senk", "diminu", "baj")),
    (("upgrad",), ("downgrad",)),
    (("ascend", "aufsteig", "croissant", "ascendent"), ("descend", "absteig", "décroissant", "descendent")),
    (("activ", "aktivi"), ("deactiv", "inactiv", "deaktivi", "désactiv", "desactiv")),
    (("enforceabl",), ("unenforceabl",)),
    (("refundabl",), ("non-refundabl", "nonrefundabl")),
    (("con",), ("sin",)),
)  # fmt: skip


def _negations(text: str) -> int:
    text = _POLITE_NO.sub(" ", text)
    count = len(_CONTRACTIONS.findall(text))
    for token in _tokens(text):
        if token in _NEGATORS or token.startswith(("non-", "un-")):
            count += 1
    return count


def _polarity(text: str) -> set[tuple[int, bool]]:
    found: set[tuple[int, bool]] = set()
    for token in _tokens(text):
        for index, (positive, negative) in enumerate(_POLARITY):
            # The longer stem wins, so "unenforceable" is not read as "enforceable".
            best = max(
                ((len(stem), False) for stem in negative if token.startswith(stem)),
                default=(0, False),
            )
            best = max(best, max(((len(stem), True) for stem in positive if token.startswith(stem)), default=(0, True)))
            if best[0]:
                found.add((index, best[1]))
    return found


def _negation_conflict(query: str, candidate: str) -> bool:
    if _negations(query) % 2 != _negations(candidate) % 2:
        return True
    return _polarity(query) != _polarity(candidate)


# Named entities: capitalised words inside a sentence, code in backticks, ids, e-mail addresses.

_SENTENCE_START = re.compile(r"(?:^|[.!?¿¡:]\s+|\n)\W*$")
_GERMAN_HINTS = {"der", "die", "das", "und", "ist", "ich", "wie", "wir", "mit", "für", "von", "haben", "den", "dem"}


def _entities(text: str) -> set[str]:
    german = len(_GERMAN_HINTS.intersection(_tokens(text))) >= 2
    found: set[str] = set()
    for match in _WORD.finditer(unicodedata.normalize("NFKC", text)):
        word = match.group()
        if word.startswith("`"):
            found.add(word.strip("`").casefold())
            continue
        mixed = any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word)
        acronym = len(word) >= 2 and word.isupper()
        structured = "@" in word or "/" in word or "_" in word
        capitalised = word[0].isupper() and not _SENTENCE_START.search(text[: match.start()])
        # German capitalises every noun, so there only acronyms and ids count as names.
        if mixed or acronym or structured or (capitalised and not german):
            found.add(word.casefold())
    return found


def _entity_conflict(query: str, candidate: str) -> bool:
    query_words = set(_tokens(query))
    candidate_words = set(_tokens(candidate))
    missing_in_candidate = {e for e in _entities(query) if e not in candidate_words}
    missing_in_query = {e for e in _entities(candidate) if e not in query_words}
    # One side naming an entity the other lacks while the other names a new one is a swap.
    return bool(missing_in_candidate) and bool(missing_in_query)


# Direction: "from A to B", "A into B", "A nach B"; refused when A and B trade places.

_CONNECTORS = {
    "to", "into", "from", "than", "vs", "versus", "->", "nach", "zu", "an", "in", "von", "vers", "de", "à", "a",
    "en", "hacia", "desde",
}  # fmt: skip
_STOPWORDS = {
    "the", "a", "an", "this", "that", "our", "my", "your", "their", "of", "for", "on", "at", "by", "and", "or",
    "is", "are", "was", "we", "i", "you", "it", "do", "does", "did", "with", "as", "be", "please", "can", "could",
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "und", "oder", "ist", "wir", "ich", "mit", "für",
    "le", "la", "les", "l'", "un", "une", "du", "et", "ou", "est", "nous", "je", "pour", "avec", "sur",
    "el", "los", "las", "y", "o", "es", "para", "con", "por", "del", "al", "mi", "su",
}  # fmt: skip


def _stem(token: str) -> str:
    # A crude stem, enough to match "mentor" with "mentored" across the two texts.
    return token[:5]


def _content_positions(tokens: Sequence[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token not in _STOPWORDS and token not in _CONNECTORS:
            positions.setdefault(_stem(token), index)
    return positions


def _direction_conflict(query: str, candidate: str) -> bool:
    query_tokens = _tokens(query)
    candidate_tokens = _tokens(candidate)
    query_positions = _content_positions(query_tokens)
    candidate_positions = _content_positions(candidate_tokens)
    names = {_stem(e) for e in _entities(query) | _entities(candidate)}
    shared = [t for t in query_positions if t in candidate_positions]
    for i, first in enumerate(shared):
        for second in shared[i + 1 :]:
            q1, q2 = sorted((query_positions[first], query_positions[second]))
            c1, c2 = sorted((candidate_positions[first], candidate_positions[second]))
            if (query_positions[first] < query_positions[second]) == (
                candidate_positions[first] < candidate_positions[second]
            ):
                continue
            # The pair swapped places. Reordered clauses do that too, so it counts as a
            # direction change only when a connector ("to", "into", "nach") links the
            # two in both texts, or a name sits right next to the other word in both.
            between_query = query_tokens[q1 + 1 : q2]
            between_candidate = candidate_tokens[c1 + 1 : c2]
            linked = (
                len(between_query) <= 6
                and len(between_candidate) <= 6
                and _CONNECTORS.intersection(between_query)
                and _CONNECTORS.intersection(between_candidate)
            )
            adjacent_name = (
                (first in names or second in names) and len(between_query) <= 1 and len(between_candidate) <= 1
            )
            if linked or adjacent_name:
                return True
    return False


# Time expressions: relative days and periods, weekdays, months, quarters.

_TIME_WORDS = {
    "today", "tonight", "tomorrow", "yesterday", "now", "midnight", "noon", "weekend", "week", "month", "year",
    "quarter", "day", "this", "last", "next", "past", "previous", "current", "since", "until", "before", "after",
    "heute", "morgen", "gestern", "übermorgen", "vorgestern", "woche", "wochenende", "monat", "monats", "jahr",
    "diese", "diesem", "diesen", "dieser", "letzte", "letzten", "letzter", "nächste", "nächsten", "vorige", "vorigen",
    "aujourd'hui", "demain", "hier", "ce", "cette", "prochain", "prochaine", "dernier", "dernière", "semaine",
    "mois", "année", "an", "week-end", "hoy", "mañana", "ayer", "pasado", "próximo", "próxima", "este", "esta",
    "semana", "mes", "año", "último", "última",
}  # fmt: skip
_CALENDAR = re.compile(
    r"^(q[1-4]|h[12]|mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|"
    r"montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|januar|februar|märz|mai|juni|juli|oktober|dezember|"
    r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|janvier|février|mars|avril|juin|juillet|août|"
    r"septembre|octobre|novembre|décembre|lunes|martes|miércoles|jueves|viernes|sábado|domingo|enero|febrero|"
    r"marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre)"
)


def _time_expressions(text: str) -> set[str]:
    found: set[str] = set()
    for token in _tokens(text):
        if token in _TIME_WORDS or _CALENDAR.match(token):
            found.add(token[:5])
    return found


def _time_conflict(query: str, candidate: str) -> bool:
    query_times = _time_expressions(query)
    candidate_times = _time_expressions(candidate)
    # Only a request that names a time on both sides can contradict; "this"/"next"
    # alone are too common to decide on.
    if not query_times or not candidate_times:
        return False
    return query_times != candidate_times


# Quantifiers that widen or narrow the set a request is about.

_QUANTIFIERS = {
    "all": "all", "every": "all", "each": "all", "entire": "all", "whole": "all", "across": "all",
    "alle": "all", "allen": "all", "aller": "all", "gesamte": "all", "gesamten": "all", "ganze": "all",
    "tous": "all", "toutes": "all", "tout": "all", "toute": "all", "entier": "all", "entière": "all",
    "todos": "all", "todas": "all", "todo": "all", "toda": "all", "entero": "all", "entera": "all",
    "only": "only", "just": "only", "solely": "only", "nur": "only", "ausschließlich": "only",
    "uniquement": "only", "seulement": "only", "seuls": "only", "solo": "only", "sólo": "only",
    "únicamente": "only", "except": "except", "excluding": "except", "außer": "except", "sauf": "except",
    "excepto": "except", "salvo": "except",
}  # fmt: skip


def _quantifiers(text: str) -> set[str]:
    return {_QUANTIFIERS[t] for t in _tokens(text) if t in _QUANTIFIERS}


def _scope_conflict(query: str, candidate: str) -> bool:
    return _quantifiers(query) != _quantifiers(candidate)


# Demanded output format: JSON, tables, lists, length limits, answer language.

_FORMATS: dict[str, tuple[str, ...]] = {
    "json": ("json",),
    "yaml": ("yaml",),
    "csv": ("csv",),
    "xml": ("xml",),
    "markdown": ("markdown",),
    "table": ("table", "tabelle", "tableau", "tabla"),
    "list": ("list", "bullet", "liste", "puces", "lista", "viñetas", "comma-separated", "numbered"),
    "sentence": ("sentence", "sentences", "satz", "sätze", "phrase", "frase", "frases", "one-liner"),
    "paragraph": ("paragraph", "absatz", "paragraphe", "párrafo"),
    "words": ("words", "wörter", "mots", "palabras", "word"),
    "detailed": ("detailed", "ausführlich", "détaillé", "detallado", "detallada", "step", "schritt", "étape"),
    "short": ("short", "brief", "kurz", "kurze", "court", "courte", "corto", "corta", "breve"),
    "example": ("example", "examples", "beispiel", "beispielen", "exemple", "ejemplo"),
    "code": ("code", "código"),
    "email": ("email", "e-mail", "mail", "correo", "courriel"),
    "memo": ("memo", "mémo"),
    "number": ("number",),
    "explanation": ("explain", "explanation", "explanations", "erkläre", "explique", "explica"),
    "bio": ("bio", "biography"),
}
_ANSWER_LANGUAGE = re.compile(
    r"\b(?:in|auf|en)\s+(english|german|french|spanish|englisch|deutsch|französisch|spanisch|anglais|allemand|"
    r"français|espagnol|inglés|alemán|francés|español)\b",
    re.IGNORECASE,
)
_LANGUAGE_CODES = {
    "english": "en", "englisch": "en", "anglais": "en", "inglés": "en", "german": "de", "deutsch": "de",
    "allemand": "de", "alemán": "de", "french": "fr", "französisch": "fr", "français": "fr", "francés": "fr",
    "spanish": "es", "spanisch": "es", "espagnol": "es", "español": "es",
}  # fmt: skip
_FORMAT_LOOKUP = {word: name for name, words in _FORMATS.items() for word in words}


def _formats(text: str) -> set[str]:
    found = {_FORMAT_LOOKUP[t] for t in _tokens(text) if t in _FORMAT_LOOKUP}
    found.update("lang:" + _LANGUAGE_CODES[m.casefold()] for m in _ANSWER_LANGUAGE.findall(text))
    return found


def _format_conflict(query: str, candidate: str) -> bool:
    return _formats(query) != _formats(candidate)


GUARDS: dict[str, Guard] = {
    guard.name: guard
    for guard in (
        Guard("number", _number_conflict),
        Guard("negation", _negation_conflict),
        Guard("entity", _entity_conflict),
        Guard("direction", _direction_conflict),
        Guard("time", _time_conflict),
        Guard("scope", _scope_conflict),
        Guard("format", _format_conflict),
    )
}


def select_guards(names: Iterable[str]) -> list[Guard]:
    """Return the guards named in ``names``, in their order.

    Raises:
        ConfigurationError: a name is not a known guard.
    """
    selected: list[Guard] = []
    for name in names:
        guard = GUARDS.get(name)
        if guard is None:
            raise ConfigurationError(f"unknown cache guard {name!r}: use any of {sorted(GUARDS)}")
        selected.append(guard)
    return selected


def first_refusal(guards: Sequence[Guard], query: str, candidate: str) -> str | None:
    """Return the name of the first guard that refuses serving ``candidate``'s answer for ``query``."""
    for guard in guards:
        if guard.conflicts(query, candidate):
            return guard.name
    return None
