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
from typing import Protocol

from mesh_agents.embeddings.base import Vectorizer
from mesh_agents.errors import ConfigurationError

__all__ = [
    "GUARD_NAMES",
    "RULE_GUARDS",
    "Guard",
    "RuleGuard",
    "WordChangeGuard",
    "first_refusal",
    "normalize_text",
    "request_core",
    "select_guards",
]

_WORD = re.compile(r"`[^`]+`|[^\W_](?:[\w@.'/-]*[^\W_])?")
_SENTENCE = re.compile(r"(?<=[.!?¡¿:;])\s+|(?<=[.!?])$|\n+")


def normalize_text(text: str) -> str:
    """Fold a prompt for the exact-match key: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _tokens(text: str) -> list[str]:
    return [token.strip("`'.").casefold() for token in _WORD.findall(unicodedata.normalize("NFKC", text))]


def _fold_accents(word: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))


class Guard(Protocol):
    """A named check; ``conflicts(query, candidate)`` is True when the hit must be refused."""

    @property
    def name(self) -> str: ...

    def conflicts(self, query: str, candidate: str) -> bool: ...


@dataclass(frozen=True)
class RuleGuard:
    """A guard that is a pure function of the two texts."""

    name: str
    check: Callable[[str, str], bool]

    def conflicts(self, query: str, candidate: str) -> bool:
        return self.check(query, candidate)


# Numbers: digits (amounts, ids, versions, percentages) and small number words.

_NUMBER_WORDS = {
    "zero": "0", "null": "0", "zéro": "0", "cero": "0",
    "one": "1", "eins": "1", "ein": "1", "eine": "1", "un": "1", "une": "1", "uno": "1", "una": "1",
    "two": "2", "zwei": "2", "deux": "2", "dos": "2", "three": "3", "drei": "3", "trois": "3", "tres": "3",
    "four": "4", "vier": "4", "quatre": "4", "cuatro": "4", "five": "5", "fünf": "5", "cinq": "5", "cinco": "5",
    "six": "6", "sechs": "6", "seis": "6", "seven": "7", "sieben": "7", "sept": "7", "siete": "7",
    "eight": "8", "acht": "8", "huit": "8", "ocho": "8", "nine": "9", "neun": "9", "neuf": "9", "nueve": "9",
    "ten": "10", "zehn": "10", "dix": "10", "diez": "10", "eleven": "11", "twelve": "12", "dozen": "12",
    "twenty": "20", "thirty": "30", "fifty": "50", "hundred": "100", "thousand": "1000",
    "third": "3", "fourth": "4", "fifth": "5", "sixth": "6", "seventh": "7", "eighth": "8", "ninth": "9",
    "tenth": "10", "dritte": "3", "dritten": "3", "vierte": "4", "vierten": "4", "troisième": "3",
    "quatrième": "4", "tercer": "3", "tercera": "3", "cuarto": "4", "cuarta": "4",
    "half": "1/2", "hälfte": "1/2", "moitié": "1/2", "mitad": "1/2",
}  # fmt: skip
# Words that are also articles or pronouns ("one of", "un contrat") are not read as numbers.
_AMBIGUOUS_NUMBER_WORDS = {"one", "ein", "eine", "un", "une", "uno", "una", "dos", "cuarto"}
_DIGITS = re.compile(r"\d+(?:[.,:/]\d+)*")


def _numbers(text: str) -> set[str]:
    found: set[str] = set()
    for match in _DIGITS.findall(text):
        # "10,000" and "10.000" are the same amount; "3.10" (a version) keeps its dot.
        grouped = re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", match)
        found.add(re.sub(r"[.,]", "", match) if grouped else match.replace(",", "."))
    for token in _tokens(text):
        # "five-day" carries a number word inside a compound.
        for part in token.split("-"):
            value = _NUMBER_WORDS.get(part)
            if value is not None and part not in _AMBIGUOUS_NUMBER_WORDS:
                found.add(value)
    return found


def _number_conflict(query: str, candidate: str) -> bool:
    return _numbers(query) != _numbers(candidate)


# Negation and polarity: "not", "no", "without", prefixes like "non-", and antonym pairs.

_NEGATORS = {
    "not", "no", "never", "none", "nor", "without", "cannot", "nothing", "nobody",
    "nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals", "ohne", "nichts",
    "pas", "jamais", "sans", "aucun", "aucune", "non", "rien",
    "nunca", "sin", "ningún", "ninguno", "ninguna", "nada",
}  # fmt: skip
# Phrases in which "no" or "not" is politeness or emphasis, not a negation of the request.
_POLITE_NO = re.compile(
    r"\b(no (problem|worries|rush|hurry)|not too much trouble|if it'?s not|not sure|nothing fancy)\b", re.IGNORECASE
)
# How many tokens after a negator the negated word may sit ("did not open", "n'est pas cessible").
_NEGATION_REACH = 3
# Antonym stems: each pair is (positive stems, negative stems). Stems of four letters
# or fewer match only whole words and their plain inflections.
_POLARITY: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("approv", "accept", "grant", "genehmig", "approuv", "aprob", "acept"),
     ("deny", "denie", "declin", "reject", "refus", "ablehn", "lehne", "rechaz", "deneg")),
    (("allow", "permit", "enabl", "unblock", "unlock", "erlaub", "autoris", "permet", "habilit"),
     ("block", "forbid", "prohibit", "disabl", "lock", "verbiet", "sperr", "bloqu", "interdi", "prohib")),
    (("includ", "add", "inclu", "ajout", "añad", "agreg"),
     ("exclud", "remov", "delet", "ausschl", "entfern", "lösch", "exclu", "supprim", "elimin", "borr")),
    (("won", "win", "gewonn", "gagn", "ganad"), ("lost", "lose", "verlor", "perdu", "perdid")),
    (("increas", "raise", "erhöh", "augment", "aument"), ("decreas", "reduc", "lower", "senk", "diminu")),
    (("upgrad",), ("downgrad",)),
    (("ascend", "aufsteig", "croissant", "ascendent"), ("descend", "absteig", "décroissant", "descendent")),
    (("activat", "aktivier", "activer", "activar"), ("deactivat", "deaktivier", "désactiv", "desactiv")),
    (("enforceabl",), ("unenforceabl",)),
    (("refundabl",), ("non-refundabl", "nonrefundabl")),
    (("con",), ("sin",)),
    (("pay", "paid", "sent", "send", "made", "give", "gave"), ("receiv", "got", "get")),
    (("mutual",), ("one-sided",)),
)  # fmt: skip
_INFLECTIONS = ("", "s", "d", "ed", "es", "ing", "e")


def _stem_matches(token: str, stem: str) -> bool:
    if len(stem) <= 4:
        return any(token == stem + ending for ending in _INFLECTIONS)
    return token.startswith(stem)


def _negated_words(text: str, other_tokens: Sequence[str]) -> int:
    """Count negations whose negated word also occurs in the other text.

    A negation in added background ("I have never understood it") negates nothing the
    other request asks, so only a negation next to a shared word counts.
    """
    tokens = _tokens(_POLITE_NO.sub(" ", text))
    count = 0
    for index, token in enumerate(tokens):
        if token.endswith("n't"):
            reach = tokens[index + 1 : index + 1 + _NEGATION_REACH]
        elif token in _NEGATORS:
            reach = tokens[index + 1 : index + 1 + _NEGATION_REACH]
        elif token.startswith(("non-", "un-")) or (token.startswith("n'") and "pas" not in tokens):
            reach = [token.split("-", 1)[-1].removeprefix("n'")]
        else:
            continue
        if any(_same_word(word, other) for word in reach if word not in _STOPWORDS for other in other_tokens):
            count += 1
    return count


def _polarity(text: str) -> set[tuple[int, bool]]:
    found: set[tuple[int, bool]] = set()
    for token in _tokens(text):
        for index, (positive, negative) in enumerate(_POLARITY):
            # The longer stem wins, so "unenforceable" is not read as "enforceable".
            matches = [(len(stem), False) for stem in negative if _stem_matches(token, stem)]
            matches += [(len(stem), True) for stem in positive if _stem_matches(token, stem)]
            if matches:
                found.add((index, max(matches)[1]))
    return found


def _negation_conflict(query: str, candidate: str) -> bool:
    query_tokens, candidate_tokens = _tokens(query), _tokens(candidate)
    if _negated_words(query, candidate_tokens) % 2 != _negated_words(candidate, query_tokens) % 2:
        return True
    query_polarity, candidate_polarity = _polarity(query), _polarity(candidate)
    # A group counts only when both texts use it, so a verb in added background does not decide.
    shared_groups = {group for group, _ in query_polarity} & {group for group, _ in candidate_polarity}
    return any(
        {p for p in query_polarity if p[0] == group} != {p for p in candidate_polarity if p[0] == group}
        for group in shared_groups
    )


# Named entities: capitalised words inside a sentence, code in backticks, ids, e-mail addresses.

_SENTENCE_START = re.compile(r"(?:^|[.!?¿¡:]\s+|\n)\W*$")
_GERMAN_HINTS = {"der", "die", "das", "und", "ist", "ich", "wie", "wir", "mit", "für", "von", "haben", "den", "dem"}
# In German every noun is capitalised, so there a capitalised word counts as a name only after these.
_GERMAN_NAME_MARKERS = {"herr", "herrn", "frau", "firma", "in", "nach", "aus", "von", "bei", "mit"}


def _entities(text: str) -> set[str]:
    text = unicodedata.normalize("NFKC", text)
    german = len(_GERMAN_HINTS.intersection(_tokens(text))) >= 2
    found: set[str] = set()
    previous = ""
    for match in _WORD.finditer(text):
        word = match.group()
        if word.startswith("`"):
            found.add(word.strip("`").casefold())
            previous = word.casefold()
            continue
        mixed = any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word)
        inner_capital = any(ch.isupper() for ch in word[1:]) and not word.isupper()
        acronym = len(word) >= 2 and word.isupper()
        structured = "@" in word or "/" in word or "_" in word
        capitalised = word[0].isupper() and not _SENTENCE_START.search(text[: match.start()])
        if german:
            capitalised = capitalised and previous in _GERMAN_NAME_MARKERS
        if mixed or inner_capital or acronym or structured or capitalised:
            found.add(word.strip("'.").casefold())
        previous = word.casefold()
    return found


def _same_name(name: str, word: str) -> bool:
    """Whether ``word`` is ``name`` inflected ("Nordics") or with two adjacent letters swapped ("Pyhton")."""
    if name == word:
        return True
    shorter, longer = sorted((name, word), key=len)
    if len(shorter) >= 4 and longer.startswith(shorter) and longer[len(shorter) :] in ("s", "es", "'s"):
        return True
    if len(name) != len(word) or len(name) < 4:
        return False
    differences = [i for i, (a, b) in enumerate(zip(name, word, strict=True)) if a != b]
    return len(differences) == 2 and differences[1] == differences[0] + 1 and sorted(name) == sorted(word)


def _entity_conflict(query: str, candidate: str) -> bool:
    query_words = _tokens(query)
    candidate_words = _tokens(candidate)
    missing_in_candidate = {e for e in _entities(query) if not any(_same_name(e, w) for w in candidate_words)}
    missing_in_query = {e for e in _entities(candidate) if not any(_same_name(e, w) for w in query_words)}
    # One side naming an entity the other lacks while the other names a new one is a swap;
    # a name on one side only is often background that the other request leaves out.
    return bool(missing_in_candidate) and bool(missing_in_query)


# Direction: "from A to B", "A into B", "A nach B"; refused when A and B trade places.

_CONNECTORS = {
    "to", "into", "from", "with", "onto", "toward", "towards", "than", "vs", "versus", "->",
    "nach", "zu", "in", "von", "an", "über", "vers", "de", "à", "a", "en", "hacia", "desde",
}  # fmt: skip
_STOPWORDS = {
    "the", "a", "an", "this", "that", "these", "those", "our", "my", "your", "their", "his", "her", "its", "of",
    "for", "on", "at", "by", "and", "or", "but", "is", "are", "was", "were", "am", "be", "been", "being", "we", "i",
    "you", "it", "me", "us", "them", "they", "he", "she", "do", "does", "did", "with", "as", "please", "can", "could",
    "will", "would", "shall", "if", "so", "then", "there", "here", "about", "than", "too", "also", "yet",
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "eines", "und", "oder",
    "aber", "ist", "sind", "war", "wird", "werden", "wir", "ich", "du", "sie", "er", "es", "mir", "mich", "mein",
    "meine", "meinen", "unser", "unsere", "unseren", "uns", "mit", "für", "auf", "im", "zum", "zur", "bei",
    "kann", "können", "muss", "soll", "bitte",
    "le", "la", "les", "l'", "un", "une", "et", "ou", "mais", "est", "sont", "nous", "je", "j'", "tu",
    "il", "elle", "ils", "vous", "mon", "ma", "mes", "notre", "nos", "votre", "pour", "avec", "sur", "au",
    "aux", "que", "qui", "qu'", "d'", "c'est", "se", "sa", "son", "ses", "dans", "par",
    "el", "los", "las", "y", "o", "pero", "para", "con", "por", "del", "al", "mi", "mis", "su", "sus",
    "yo", "nuestro", "nuestra", "lo", "hay", "puedo", "puede",
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


# Subject and object pronouns: "we owe them" and "they owe us" ask opposite things.
_PRONOUN_ROLES = {
    "we": "we", "us": "us", "they": "they", "them": "them", "i": "we", "me": "us", "he": "they", "she": "they",
    "him": "them", "her": "them", "wir": "we", "uns": "us", "ihnen": "them", "nous": "we", "eux": "them",
    "nosotros": "we", "nos": "us", "ellos": "they", "les": "them",
}  # fmt: skip


def _pronoun_roles(tokens: Sequence[str]) -> set[str]:
    return {_PRONOUN_ROLES[t] for t in tokens if t in _PRONOUN_ROLES}


def _subject_and_object(roles: set[str]) -> bool:
    return bool(roles & {"we", "they"}) and bool(roles & {"us", "them"})


def _direction_conflict(query: str, candidate: str) -> bool:
    query_tokens = _tokens(query)
    candidate_tokens = _tokens(candidate)
    query_roles, candidate_roles = _pronoun_roles(query_tokens), _pronoun_roles(candidate_tokens)
    if _subject_and_object(query_roles) and _subject_and_object(candidate_roles) and query_roles != candidate_roles:
        return True
    query_positions = _content_positions(query_tokens)
    candidate_positions = _content_positions(candidate_tokens)
    names = {_stem(e) for e in _entities(query) | _entities(candidate)}
    shared = [t for t in query_positions if t in candidate_positions]
    for i, first in enumerate(shared):
        for second in shared[i + 1 :]:
            query_order = query_positions[first] < query_positions[second]
            if query_order == (candidate_positions[first] < candidate_positions[second]):
                continue
            q1, q2 = sorted((query_positions[first], query_positions[second]))
            c1, c2 = sorted((candidate_positions[first], candidate_positions[second]))
            # The pair swapped places. Reordered clauses do that too, so it counts as a
            # direction change only when a connector ("to", "into", "nach") links the
            # two in both texts, or a name sits right next to the other word in both.
            between_query = query_tokens[q1 + 1 : q2]
            between_candidate = candidate_tokens[c1 + 1 : c2]
            reach = 6 if first in names or second in names else 4
            linked = (
                len(between_query) <= reach
                and len(between_candidate) <= reach
                and bool(_CONNECTORS.intersection(between_query))
                and bool(_CONNECTORS.intersection(between_candidate))
            )
            # "Tomás Silva mentor" against "mentored Tomás Silva"; but "environment in
            # Python" against "Python environment" is the same noun phrase.
            close = all(
                len(between) <= 1 and not (_CONNECTORS.intersection(between) or _STOPWORDS.intersection(between))
                for between in (between_query, between_candidate)
            )
            if linked or (close and (first in names or second in names)):
                return True
    return False


# Time expressions: relative days and periods, weekdays, months, quarters.

_DEICTIC_TIMES = {
    "today": "d0", "tonight": "d0n", "tomorrow": "d+1", "yesterday": "d-1", "midnight": "d0m", "now": "now",
    "heute": "d0", "morgen": "d+1", "gestern": "d-1", "übermorgen": "d+2", "vorgestern": "d-2",
    "aujourd'hui": "d0", "demain": "d+1", "hier": "d-1", "hoy": "d0", "mañana": "d+1", "ayer": "d-1",
}  # fmt: skip
_TIME_MODIFIERS = {
    "this": "this", "current": "this", "diese": "this", "diesem": "this", "diesen": "this", "dieser": "this",
    "ce": "this", "cette": "this", "este": "this", "esta": "this",
    "last": "last", "past": "last", "previous": "last", "letzte": "last", "letzten": "last", "letzter": "last",
    "vorige": "last", "vorigen": "last", "dernier": "last", "dernière": "last", "pasado": "last", "pasada": "last",
    "último": "last", "última": "last", "next": "next", "coming": "next", "nächste": "next", "nächsten": "next",
    "kommende": "next", "kommenden": "next", "prochain": "next", "prochaine": "next", "próximo": "next",
    "próxima": "next", "first": "first", "second": "second", "erste": "first", "zweite": "second",
}  # fmt: skip
_TIME_UNITS = {
    "day": "day", "week": "week", "weekend": "weekend", "month": "month", "quarter": "quarter", "year": "year",
    "half": "half", "tag": "day", "woche": "week", "wochenende": "weekend", "monat": "month", "quartal": "quarter",
    "jahr": "year", "jour": "day", "semaine": "week", "week-end": "weekend", "mois": "month", "trimestre": "quarter",
    "année": "year", "an": "year", "día": "day", "semana": "week", "mes": "month", "año": "year",
}  # fmt: skip
_CALENDAR = re.compile(
    r"^(q[1-4]|h[12]|monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|"
    r"june|july|august|september|october|november|december|montag|dienstag|mittwoch|donnerstag|freitag|samstag|"
    r"sonntag|januar|februar|märz|mai|juni|juli|oktober|dezember|lundi|mardi|mercredi|jeudi|vendredi|samedi|"
    r"dimanche|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre|lunes|martes|"
    r"miércoles|jueves|viernes|sábado|domingo|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|"
    r"octubre|noviembre|diciembre)$"
)
# "por la mañana" and "guten Morgen" are times of day, not tomorrow.
_TIME_OF_DAY = re.compile(r"\b(por la mañana|de la mañana|guten morgen|heute morgen)\b", re.IGNORECASE)


def _time_expressions(text: str) -> set[str]:
    tokens = _tokens(_TIME_OF_DAY.sub(" ", text))
    found: set[str] = set()
    for index, token in enumerate(tokens):
        if token in _DEICTIC_TIMES:
            found.add(_DEICTIC_TIMES[token])
        elif _CALENDAR.match(token):
            found.add(token[:3])
        unit = _TIME_UNITS.get(token)
        if unit is None:
            continue
        # The modifier stands before the unit in English and German, after it in French and Spanish.
        nearby = tokens[max(0, index - 2) : index] + tokens[index + 1 : index + 3]
        modifiers = {_TIME_MODIFIERS[t] for t in nearby if t in _TIME_MODIFIERS}
        if "que" in nearby and "viene" in tokens[index + 1 : index + 4]:
            modifiers.add("next")
        found.update(f"{modifier}:{unit}" for modifier in modifiers)
    if "pasado" in tokens and "mañana" in tokens:
        found.discard("d+1")
        found.add("d+2")
    return found


def _time_conflict(query: str, candidate: str) -> bool:
    query_times = _time_expressions(query)
    candidate_times = _time_expressions(candidate)
    # A time named on one side only is left to the word-change guard, because added
    # background ("I fly out next week") often names one.
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


# Set phrases in which a quantifier means "often", not a wider set.
_IDIOMS = re.compile(r"\b(all the time|every time|tout le temps|todo el tiempo|die ganze zeit)\b", re.IGNORECASE)


def _quantifiers(text: str) -> set[str]:
    return {_QUANTIFIERS[t] for t in _tokens(_IDIOMS.sub(" ", text)) if t in _QUANTIFIERS}


def _scope_conflict(query: str, candidate: str) -> bool:
    return _quantifiers(query) != _quantifiers(candidate)


# Demanded output format: JSON, tables, lists, length limits, answer language.

# Words that always name an output format.
_FORMATS: dict[str, tuple[str, ...]] = {
    "json": ("json",),
    "yaml": ("yaml",),
    "csv": ("csv",),
    "xml": ("xml",),
    "markdown": ("markdown",),
    "table": ("table", "tabelle", "tableau", "tabla"),
    "list": ("bullet", "bullets", "puces", "viñetas", "comma-separated", "numbered"),
    "sentence": ("one-liner",),
}
# Words that name a format only after a cue such as "as", "in" or "with" ("as a list",
# "in one sentence"), because elsewhere they are ordinary words ("List the risks").
_CUED_FORMATS: dict[str, tuple[str, ...]] = {
    "list": ("list", "liste", "lista"),
    "sentence": ("sentence", "sentences", "satz", "sätze", "phrase", "phrases", "frase", "frases"),
    "paragraph": ("paragraph", "absatz", "paragraphe", "párrafo"),
    "words": ("words", "wörter", "mots", "palabras", "word"),
    "detailed": ("detailed", "ausführlich", "détaillé", "detallado", "detallada", "step-by-step"),
    "short": ("short", "brief", "kurz", "kurze", "court", "courte", "corto", "corta", "breve"),
    "example": ("example", "examples", "beispiel", "beispielen", "exemple", "exemples", "ejemplo", "ejemplos"),
    "code": ("code", "código"),
    "email": ("email", "e-mail", "mail", "correo", "courriel"),
    "memo": ("memo", "mémo"),
    "number": ("number", "zahl", "nombre", "número"),
    "explanation": ("explanation", "explanations", "erklärung", "explication", "explicación"),
    "bio": ("bio", "biography"),
}
_FORMAT_CUES = {
    "as", "in", "with", "into", "format", "formatted", "written", "reply", "respond", "answer", "return", "output",
    "als", "mit", "en", "sous", "forme", "avec", "como", "con", "just", "only", "no", "under",
}  # fmt: skip
# "Schritt für Schritt", "step by step", "paso a paso": a demand for a detailed walk-through.
_STEP_BY_STEP = re.compile(r"\b(step by step|schritt für schritt|étape par étape|paso a paso)\b", re.IGNORECASE)
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
_CUED_FORMAT_LOOKUP = {word: name for name, words in _CUED_FORMATS.items() for word in words}
# How many tokens before a cued format word its cue may stand ("as a comma-separated list").
_CUE_REACH = 3


def _formats(text: str) -> set[str]:
    tokens = _tokens(text)
    found: set[str] = set()
    for index, token in enumerate(tokens):
        if token in _FORMAT_LOOKUP:
            found.add(_FORMAT_LOOKUP[token])
            continue
        name = _CUED_FORMAT_LOOKUP.get(token)
        if name is None:
            continue
        before = tokens[max(0, index - _CUE_REACH) : index]
        after = tokens[index + 1 : index + 2]
        if _FORMAT_CUES.intersection(before) or {"only", "nur", "seulement", "solo"}.intersection(after):
            found.add(name)
    if _STEP_BY_STEP.search(text):
        found.add("detailed")
    found.update("lang:" + _LANGUAGE_CODES[m.casefold()] for m in _ANSWER_LANGUAGE.findall(text))
    return found


def _format_conflict(query: str, candidate: str) -> bool:
    return _formats(query) != _formats(candidate)


# Word changes between near-identical requests: the catch-all for a swapped name,
# a narrowed set or an antonym that no lexicon above lists.

_FILLER = {
    "hi", "hello", "hey", "hiya", "greetings", "thanks", "thank", "cheers", "please", "pls", "sorry", "hope",
    "hoping", "well", "good", "morning", "great", "nice", "lot", "much", "so", "very", "again", "there", "team",
    "lately", "help", "earlier", "trouble", "bother", "quick", "question", "advance", "appreciate", "bunch",
    "kind", "kindly", "would", "mind", "wondering", "hallo", "guten", "morgen", "tag", "danke", "vielen", "dank",
    "bitte", "voraus", "grüße", "bonjour", "salut", "merci", "beaucoup", "bonne", "journée", "svp", "s'il", "plaît",
    "hola", "gracias", "muchas", "buenos", "días", "favor", "saludos", "just", "actually", "really",
}  # fmt: skip
# Words that frame a request without changing what it asks for.
_GENERIC_WORDS = {
    "how", "what", "what's", "where", "when", "which", "who", "why", "use", "used", "help", "need", "needs", "want",
    "wants", "find", "get", "tell", "show", "know", "give", "make", "do", "does", "did", "done", "walk", "through",
    "process", "way", "steps", "step", "stored", "located", "look", "up", "forgot", "forgotten", "locked", "out",
    "ask", "asked", "asking", "able", "possible", "like", "should", "may", "might", "must", "have", "has",
    "i'm", "i've", "it", "someone", "anyone", "somebody", "there", "any", "some", "something", "explain",
    "describe", "check", "quickly", "exactly", "currently", "usually", "again", "still", "also", "here", "super",
    "quite", "pretty", "extremely", "totally",
}  # fmt: skip
# Near-identical: at least this share of the shorter request's content words occur in the other.
_NEAR_IDENTICAL = 0.6
# More added words than this read as background, not a narrower request.
_MAX_ADDED_WORDS = 3
# A swap of one word for one or two others changes a fact; more is rewording.
_MAX_SWAPPED_WORDS = 3


def _edit_distance(first: str, second: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps."""
    rows = [list(range(len(second) + 1))]
    for i, left in enumerate(first, start=1):
        row = [i]
        for j, right in enumerate(second, start=1):
            cost = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (left != right))
            if i > 1 and j > 1 and left == second[j - 2] and first[i - 2] == right:
                cost = min(cost, rows[i - 2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1]


def _same_word(first: str, second: str) -> bool:
    """Whether two words are equal up to inflection, accents or a typo ("contracts", "fur", "teh")."""
    if first == second:
        return True
    if any(ch.isdigit() for ch in first + second):
        return False
    first, second = _fold_accents(first), _fold_accents(second)
    if first == second:
        return True
    shorter, longer = sorted((first, second), key=len)
    if len(shorter) >= 4 and longer.startswith(shorter) and len(longer) - len(shorter) <= 3:
        return True
    if len(shorter) >= 5 and first[:5] == second[:5]:
        return True
    # Three-letter words differ in meaning by one letter too often ("wer"/"wem", "won"/"win").
    if len(shorter) < 4:
        return False
    return _edit_distance(first, second) <= (1 if len(shorter) <= 5 else 2)


def _content_words(tokens: Sequence[str]) -> list[str]:
    ignored = (_STOPWORDS, _CONNECTORS, _FILLER, _GENERIC_WORDS)
    words = [t for t in tokens if not any(t in words for words in ignored)]
    # "every" and "all" ask for the same set; the scope guard compares quantifiers.
    return [_QUANTIFIERS.get(word, word) for word in words]


# Word-embedding cosine distance up to which a swapped word counts as a synonym
# ("cheap"/"inexpensive" 0.14, "clients"/"customers" 0.28 with all-MiniLM-L6-v2), while
# "shipping"/"billing" (0.61) or "engineering"/"marketing" (0.56) change the request.
SYNONYM_DISTANCE = 0.3


def _changed_words(query: str, candidate: str) -> tuple[list[str], list[str]] | None:
    """Return the content words only in each text, or None when the texts are not near-identical."""
    query_tokens, candidate_tokens = _tokens(query), _tokens(candidate)
    query_words, candidate_words = _content_words(query_tokens), _content_words(candidate_tokens)
    query_all = [_QUANTIFIERS.get(t, t) for t in query_tokens]
    candidate_all = [_QUANTIFIERS.get(t, t) for t in candidate_tokens]
    only_query = [w for w in query_words if not any(_same_word(w, t) for t in candidate_all)]
    only_candidate = [w for w in candidate_words if not any(_same_word(w, t) for t in query_all)]
    shorter = min(len(query_words), len(candidate_words))
    shared = min(len(query_words) - len(only_query), len(candidate_words) - len(only_candidate))
    if shorter == 0 or shared / shorter < _NEAR_IDENTICAL:
        # Reworded as a whole: the embedding distance decides.
        return None
    return only_query, only_candidate


class WordChangeGuard:
    """Refuse near-identical requests that differ in a few content words with other meanings.

    Words added on one side only ("contracts" against "supplier contracts") narrow or
    widen the request. Words swapped for others count as a change unless each pairs
    with a synonym: a word-embedding cosine distance within ``synonym_distance``.
    Without a vectorizer every swap counts as a change.
    """

    name = "word_change"

    def __init__(self, vectorizer: Vectorizer | None = None, *, synonym_distance: float = SYNONYM_DISTANCE) -> None:
        self.vectorizer = vectorizer
        self.synonym_distance = synonym_distance

    def conflicts(self, query: str, candidate: str) -> bool:
        changed = _changed_words(query, candidate)
        if changed is None:
            return False
        only_query, only_candidate = changed
        if not only_query and not only_candidate:
            return False
        if not only_query or not only_candidate:
            # Added words narrow or widen the request, unless they are added background.
            return max(len(only_query), len(only_candidate)) <= _MAX_ADDED_WORDS
        if len(only_query) + len(only_candidate) > _MAX_SWAPPED_WORDS:
            # Several words swapped on both sides is rewording; the embedding distance decides.
            return False
        return not self._synonyms(only_query, only_candidate)

    def _synonyms(self, first: list[str], second: list[str]) -> bool:
        """Whether every word of the shorter list has a synonym in the longer one."""
        if self.vectorizer is None:
            return False
        shorter, longer = sorted((first, second), key=len)
        vectors = self.vectorizer.embed(shorter + longer)
        distances = 1.0 - vectors[: len(shorter)] @ vectors[len(shorter) :].T
        return bool((distances.min(axis=1) <= self.synonym_distance).all())


# Sentences of greetings and thanks carry no part of the request.
_GREETING_WORDS = _FILLER | {
    "you", "your", "you're", "all", "everything", "having", "have", "had", "is", "are", "be", "treating", "going",
    "goes", "smoothly", "start", "off", "weekend", "day", "week", "fine", "everyone", "toute", "l'équipe", "que",
    "vous", "allez", "bien", "todo", "vaya", "und", "im", "à", "j'espère", "espero", "hoffe", "es", "dir", "geht",
    "gut", "bonjour", "journée", "great", "wonderful", "happy", "friday", "monday", "to", "the", "a", "and", "for",
    "in", "on", "with", "it", "again", "there", "of", "me", "my", "if", "it's", "not", "too", "trouble", "much",
}  # fmt: skip
_HOPE_WORDS = {"hope", "hoping", "j'espère", "espero", "hoffe"}


def request_core(text: str) -> str:
    """Drop sentences that are only greetings, thanks or well-wishes, so the guards compare the requests."""
    kept: list[str] = []
    for sentence in _SENTENCE.split(text.strip()):
        tokens = _tokens(sentence)
        if not tokens:
            continue
        if tokens[0] in _HOPE_WORDS or tokens[-1] in _HOPE_WORDS:
            continue
        if all(token in _GREETING_WORDS or token in _STOPWORDS for token in tokens):
            continue
        kept.append(sentence)
    return " ".join(kept) if kept else text


RULE_GUARDS: dict[str, RuleGuard] = {
    guard.name: guard
    for guard in (
        RuleGuard("number", _number_conflict),
        RuleGuard("negation", _negation_conflict),
        RuleGuard("entity", _entity_conflict),
        RuleGuard("direction", _direction_conflict),
        RuleGuard("time", _time_conflict),
        RuleGuard("scope", _scope_conflict),
        RuleGuard("format", _format_conflict),
    )
}
GUARD_NAMES = (*RULE_GUARDS, WordChangeGuard.name)


def select_guards(names: Iterable[str], *, vectorizer: Vectorizer | None = None) -> list[Guard]:
    """Return the guards named in ``names``, in their order; ``word_change`` uses ``vectorizer`` for synonyms.

    Raises:
        ConfigurationError: a name is not a known guard.
    """
    selected: list[Guard] = []
    for name in names:
        if name == WordChangeGuard.name:
            selected.append(WordChangeGuard(vectorizer))
        elif name in RULE_GUARDS:
            selected.append(RULE_GUARDS[name])
        else:
            raise ConfigurationError(f"unknown cache guard {name!r}: use any of {list(GUARD_NAMES)}")
    return selected


def first_refusal(guards: Sequence[Guard], query: str, candidate: str) -> str | None:
    """Return the name of the first guard that refuses serving ``candidate``'s answer for ``query``."""
    query, candidate = request_core(query), request_core(candidate)
    for guard in guards:
        if guard.conflicts(query, candidate):
            return guard.name
    return None
