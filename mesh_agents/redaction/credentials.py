"""Secrets in text: provider API keys, tokens, private keys and passwords.

Shapes of provider keys follow the prefixes the providers document (``sk-`` for OpenAI
and Anthropic, ``AKIA`` for AWS access key ids, ``ghp_`` for GitHub, ``glpat-`` for
GitLab, ``xoxb-`` for Slack, ``sk_live_`` for Stripe, ``AIza`` for Google). Only the
credential itself is reported: ``Bearer`` and ``password:`` stay in the text so a model
can still tell what was there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["find_secrets"]

_B = r"(?<![A-Za-z0-9_-])"  # a key is not the tail of a longer token
_E = r"(?![A-Za-z0-9_-])"

_PROVIDER_KEYS = re.compile(
    _B
    + r"(?:"
    + "|".join(
        [
            r"sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic
            r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}",  # AWS key ids
            r"gh[pousr]_[A-Za-z0-9]{36,255}",  # GitHub tokens
            r"github_pat_[A-Za-z0-9_]{22,255}",
            r"glpat-[A-Za-z0-9_-]{20,}",  # GitLab
            r"xox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
            r"(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
            r"AIza[0-9A-Za-z_-]{35}",  # Google API keys
            r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",  # SendGrid
            r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
            r"npm_[A-Za-z0-9]{36}",  # npm
            r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JSON Web Tokens
        ]
    )
    + r")"
    + _E
)

_AWS_SECRET = re.compile(r"(?i)aws_secret_access_key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")

_BEARER = re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)")

_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----(?:.*?-----END \1PRIVATE KEY-----)?",
    re.DOTALL,
)

# scheme://user:password@host, the password only.
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@\"']+:([^\s@/\"']+)@[\w.-]")

# A password named by a keyword in one of the supported languages.
_PASSWORD_WORDS = (
    r"passw(?:or)?d|passwort|kennwort|pwd|passphrase|mot de passe|mdp|contraseña|clave|"
    r"palavra-passe|senha|wachtwoord|hasło|haslo|parola d'ordine|secret"
)
# Searching for the keyword alone first is much faster than one pattern that starts
# with ``\w*`` at every position of the text.
_PASSWORD_KEYWORD = re.compile(r"(?i)" + _PASSWORD_WORDS)
_PASSWORD_VALUE = re.compile(
    r"(?i)\w*"
    r"(?:[ \t]+[^\W\d_]{2,15}){0,2}"  # "Passwort wiederholen", "senha temporária"
    r"(?:\"?[ \t]*[:=][ \t]*\"?|[ \t]+(?:is|ist|est|es|é|è|jest|was|war|=)[ \t]+\"?)"
    r"([^\s\"',;]{4,128})"
)


def find_secrets(text: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(start, end, kind)`` for each credential in ``text``; spans may overlap."""
    for match in _PRIVATE_KEY.finditer(text):
        yield match.start(), match.end(), "private_key"
    for match in _PROVIDER_KEYS.finditer(text):
        yield match.start(), match.end(), "api_key"
    for match in _AWS_SECRET.finditer(text):
        yield match.start(1), match.end(1), "api_key"
    for match in _BEARER.finditer(text):
        yield match.start(1), match.end(1), "bearer_token"
    for match in _URL_PASSWORD.finditer(text):
        yield match.start(1), match.end(1), "password"
    for keyword in _PASSWORD_KEYWORD.finditer(text):
        value = _PASSWORD_VALUE.match(text, keyword.end())
        if value is None:
            continue
        start, end = value.start(1), value.end(1)
        end = _strip_sentence_end(text, start, end)
        if _looks_like_password(text[start:end]):
            yield start, end, "password"


def _strip_sentence_end(text: str, start: int, end: int) -> int:
    """Drop one closing punctuation mark that ends the sentence rather than the password.

    ``ist Is2hK88j1jv%.`` ends in a full stop; ``P8NNuwPwo#`` ends in part of the
    password. A mark followed by the end of text or by white space ends a sentence only
    when the password without it still has a symbol or digit.
    """
    while end - start > 4 and text[end - 1] in ".,;:)]}>" and _looks_like_password(text[start : end - 1]):
        end -= 1
    return end


def _looks_like_password(value: str) -> bool:
    """Return whether ``value`` mixes character classes the way a password does.

    A single word ("incorrect", "required", "expired") has one class and is rejected.
    NOTE: for the same reason a passphrase of lower-case words only is missed.
    """
    if len(value) < 6 or set(value) <= set("*•x#.-_"):
        return False
    classes = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )
    return classes >= 2
