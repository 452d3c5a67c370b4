"""Secret detection: API keys, access tokens, private keys and passwords, in any text the mesh sees.

Each detector is a regular expression for a documented credential format, plus a
generic ``name = value`` detector whose value must look random (Shannon entropy per
character at or above ``SecretSettings.min_entropy``), so ``password = changeme``
in a tutorial does not count while a pasted 32-character key does.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from mesh_agents.guardrails.base import Action, GuardContext, Verdict
from mesh_agents.guardrails.schema import SecretSettings
from mesh_agents.types import Source

__all__ = ["SECRET_PATTERNS", "SecretFinding", "SecretsGuardrail", "find_secrets", "mask_secrets"]


@dataclass(frozen=True)
class SecretFinding:
    """A detected secret: its kind and its ``(start, end)`` in the text."""

    kind: str
    start: int
    end: int


# Credential formats as their issuers document them.
SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "aws_access_key_id": re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    "aws_secret_access_key": re.compile(r"(?i)aws_?secret_?access_?key\s*[:=]\s*[\"']?(?-i:[A-Za-z0-9/+]{40})\b"),
    "github_token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    "gitlab_token": re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    "slack_token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
    "slack_webhook": re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,}"),
    "stripe_key": re.compile(r"\b(?:sk|rk)_live_[0-9A-Za-z]{24,}\b"),
    "openai_key": re.compile(
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}\b|\bsk-proj-[A-Za-z0-9_-]{40,}\b"
    ),
    "anthropic_key": re.compile(r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,}\b"),
    "google_api_key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "twilio_key": re.compile(r"\bSK[0-9a-f]{32}\b"),
    "sendgrid_key": re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    "npm_token": re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),
    "pypi_token": re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}\b"),
    "huggingface_token": re.compile(r"\bhf_[A-Za-z]{34}\b"),
    "private_key": re.compile(
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----"
        r"[\s\S]*?(?:-----END (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----|$)"
    ),
    "jwt": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b"),
    "url_credentials": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]{1,64}:[^\s:/@]{3,128}@[\w.-]+"),
}
_GENERIC = re.compile(
    r"(?i)\b(?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|client[_-]?secret|password"
    r"|passwd|pwd|private[_-]?key|bearer)\b[\"']?\s*(?:[:=]|=>"
    r"|\s)\s*[\"']?(?P<value>[A-Za-z0-9_\-+/=.~!@#$%^&*]{16,256})"
)
_PLACEHOLDER = re.compile(r"(?i)x{6,}|\*{4,}|<[^>]+>|\{\{|\$\{|your[_-]|example|placeholder|changeme|redacted|dummy")


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def find_secrets(text: str, *, min_entropy: float = 3.0) -> list[SecretFinding]:
    """Return the secrets in ``text``, in order of position, overlapping ones merged under the first kind."""
    found = [
        SecretFinding(kind, match.start(), match.end())
        for kind, pattern in SECRET_PATTERNS.items()
        for match in pattern.finditer(text)
    ]
    for match in _GENERIC.finditer(text):
        value = match.group("value")
        if _PLACEHOLDER.search(value) or _entropy(value) < min_entropy:
            continue
        if not (re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
            continue
        found.append(SecretFinding("generic_secret", match.start("value"), match.end("value")))
    found.sort(key=lambda finding: (finding.start, -finding.end))
    merged: list[SecretFinding] = []
    for finding in found:
        if merged and finding.start < merged[-1].end:
            if finding.end > merged[-1].end:
                merged[-1] = SecretFinding(merged[-1].kind, merged[-1].start, finding.end)
            continue
        merged.append(finding)
    return merged


def mask_secrets(text: str, findings: list[SecretFinding]) -> str:
    """Replace each finding with ``[SECRET:kind]``."""
    parts = []
    cursor = 0
    for finding in findings:
        parts.append(text[cursor : finding.start])
        parts.append(f"[SECRET:{finding.kind}]")
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)


class SecretsGuardrail:
    """Finds credentials in text; masks them on the way in and blocks them on the way out by default."""

    name = "secrets"
    sources = frozenset(Source)

    def __init__(self, settings: SecretSettings) -> None:
        self.settings = settings

    def check(self, text: str, source: Source, context: GuardContext) -> Verdict:
        findings = find_secrets(text, min_entropy=self.settings.min_entropy)
        if not findings:
            return Verdict(Action.ALLOW, self.name)
        if source is Source.MODEL_OUTPUT:
            action = Action(self.settings.action_output)
        elif source is Source.TOOL_ARGS:
            action = Action(self.settings.action_tool_args)
        else:
            action = Action(self.settings.action_input)
        kinds = sorted({finding.kind for finding in findings})
        spans = tuple((finding.start, finding.end) for finding in findings)
        rewritten = mask_secrets(text, findings) if action is Action.REWRITE else None
        return Verdict(action, self.name, 1.0, f"secret:{','.join(kinds)}", spans, rewritten=rewritten)
