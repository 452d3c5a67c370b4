"""Guardrails: prompt-injection and jailbreak detection on what enters a model, leak checks on what leaves it.

``GuardrailEngine`` is the entry point; the guardrails it runs are plain classes
behind the ``Guardrail`` Protocol, so a user can pass their own.
"""

from mesh_agents.guardrails.base import Action, GuardContext, Guardrail, GuardReport, Verdict
from mesh_agents.guardrails.classifier import (
    EmbeddingClassifier,
    InjectionClassifier,
    LinearHead,
    TransformerClassifier,
)
from mesh_agents.guardrails.engine import GuardrailEngine
from mesh_agents.guardrails.injection import InjectionGuardrail
from mesh_agents.guardrails.output import PiiOutputGuardrail, SystemPromptLeakGuardrail, UrlGuardrail
from mesh_agents.guardrails.rules import Rule, RuleScanner
from mesh_agents.guardrails.schema import GuardrailSettings
from mesh_agents.guardrails.secrets import SecretsGuardrail, find_secrets
from mesh_agents.guardrails.tools import ToolCallGuard

__all__ = [
    "Action",
    "EmbeddingClassifier",
    "GuardContext",
    "GuardReport",
    "Guardrail",
    "GuardrailEngine",
    "GuardrailSettings",
    "InjectionClassifier",
    "InjectionGuardrail",
    "LinearHead",
    "PiiOutputGuardrail",
    "Rule",
    "RuleScanner",
    "SecretsGuardrail",
    "SystemPromptLeakGuardrail",
    "ToolCallGuard",
    "TransformerClassifier",
    "UrlGuardrail",
    "Verdict",
    "find_secrets",
]
