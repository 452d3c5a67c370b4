"""Secret detection in text and tool arguments."""

from __future__ import annotations

import pytest

from mesh_agents.guardrails.base import Action, GuardContext
from mesh_agents.guardrails.schema import SecretSettings
from mesh_agents.guardrails.secrets import SecretsGuardrail, find_secrets, mask_secrets
from mesh_agents.types import Source

# Built at run time so that no credential-shaped literal sits in the repository.
GITHUB = "ghp_" + "Zx9" * 12
SLACK = "xoxb-" + "1234567890-abcdefghij"
GOOGLE = "AIza" + "Sy" + "A1b2C3d4E5" * 3 + "f6G"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", "aws_access_key_id"),
        (f"token {GITHUB}", "github_token"),
        (f"slack {SLACK}", "slack_token"),
        (f"maps {GOOGLE}", "google_api_key"),
        (f"stripe {STRIPE}", "stripe_key"),
        (f"key:\n{PRIVATE_KEY}", "private_key"),
        (f"Authorization: Bearer {JWT}", "jwt"),
        ("postgres://app:s3cr3t-Pa55@db.internal:5432/app", "url_credentials"),
        ('API_KEY = "q8Zt4Lm2Xv9Rw7Kp3Nb6Hy1Jd5Fg0Cs"', "generic_secret"),
    ],
)
def test_finds_secret_kind(text: str, kind: str) -> None:
    assert [finding.kind for finding in find_secrets(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "password = changeme",
        'api_key = "YOUR_API_KEY_HERE_PLEASE"',
        "Set the token in the TOKEN environment variable.",
        "The commit 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 fixed it.",
        "secret = aaaaaaaaaaaaaaaaaaaaaaaa",
    ],
)
def test_ignores_non_secrets(text: str) -> None:
    assert find_secrets(text) == []


def test_mask_replaces_each_secret() -> None:
    text = f"a AKIAIOSFODNN7EXAMPLE b {GITHUB} c"
    assert mask_secrets(text, find_secrets(text)) == "a [SECRET:aws_access_key_id] b [SECRET:github_token] c"


def test_action_depends_on_source() -> None:
    guardrail = SecretsGuardrail(SecretSettings())
    context = GuardContext(tenant="acme")
    text = "use AKIAIOSFODNN7EXAMPLE"
    assert guardrail.check(text, Source.USER, context).action is Action.REWRITE
    assert guardrail.check(text, Source.TOOL_RESULT, context).rewritten == "use [SECRET:aws_access_key_id]"
    assert guardrail.check(text, Source.MODEL_OUTPUT, context).action is Action.BLOCK
    assert guardrail.check(text, Source.TOOL_ARGS, context).action is Action.BLOCK
    assert guardrail.check("nothing here", Source.USER, context).action is Action.ALLOW
