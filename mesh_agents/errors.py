"""The mesh's exception tree.

Every error the library raises on purpose derives from ``MeshError``::

    MeshError
    ├── ConfigurationError          settings or wiring are wrong; fix the config
    │   └── MissingExtraError       an optional dependency is not installed
    ├── InvalidInputError           the request itself is malformed (also a ValueError)
    ├── PolicyViolation             a tenant policy stopped the request
    │   ├── GuardrailBlocked        a guardrail returned a block verdict
    │   ├── BudgetExceeded          a token, cost or rate budget has no room left
    │   └── RedactionBlocked        personal data the policy forbids, or detection failed closed
    ├── BackendUnavailable          a store (Redis) or a detector could not be reached
    └── TargetsExhausted            every routed target failed after retries and fallbacks

Messages name the value that failed and what to do next. They never contain prompt
text, model output or personal data, so transports may show ``safe_message`` to a
client as it is.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendUnavailable",
    "BudgetExceeded",
    "ConfigurationError",
    "GuardrailBlocked",
    "InvalidInputError",
    "MeshError",
    "MissingExtraError",
    "PolicyViolation",
    "RedactionBlocked",
    "TargetsExhausted",
]


class MeshError(Exception):
    """Root of every error the mesh raises on purpose.

    Attributes:
        code: Stable machine-readable error code, such as ``"budget_exceeded"``.
        details: Extra facts for programs (ids, limits, names). Never personal data.
    """

    code = "mesh_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = dict(details or {})

    @property
    def safe_message(self) -> str:
        """The message, which by construction carries no prompt text or personal data."""
        return str(self)


class ConfigurationError(MeshError):
    code = "configuration_error"


class MissingExtraError(ConfigurationError):
    """An optional dependency is missing; the message names the extra to install."""

    code = "missing_extra"

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"the optional dependency {package!r} is not installed; "
            f"install it with: pip install 'mesh-agents[{extra}]'",
            details={"package": package, "extra": extra},
        )


class InvalidInputError(MeshError, ValueError):
    code = "invalid_input"


class PolicyViolation(MeshError):
    code = "policy_violation"


class GuardrailBlocked(PolicyViolation):
    code = "guardrail_blocked"


class BudgetExceeded(PolicyViolation):
    code = "budget_exceeded"


class RedactionBlocked(PolicyViolation):
    code = "redaction_blocked"


class BackendUnavailable(MeshError):
    code = "backend_unavailable"


class TargetsExhausted(MeshError):
    code = "targets_exhausted"
