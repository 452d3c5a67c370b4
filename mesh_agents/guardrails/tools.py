"""Checks on a tool call before the tool runs: schema, allowed tools, argument patterns, destinations."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from mesh_agents.errors import ConfigurationError
from mesh_agents.guardrails.base import Action, GuardContext, Verdict
from mesh_agents.guardrails.output import domain_allowed
from mesh_agents.guardrails.schema import GuardrailSettings

__all__ = ["ToolCallGuard", "iter_strings"]

_EMAIL = re.compile(r"\b[\w.+-]+@([\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,})\b")
_URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s\"'<>]+", re.IGNORECASE)


def iter_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(argument path, string)`` for every string in a nested argument value."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{index}]")


class ToolCallGuard:
    """Validates one tool call against its JSON schema and the tenant's tool policy.

    Every failed check is a ``block`` verdict whose reason names the check
    (``tool_not_allowed``, ``schema_invalid``, ``destination_not_allowed`` or the
    argument rule's reason) and never the argument value.
    """

    name = "tool_call"

    def __init__(self, settings: GuardrailSettings) -> None:
        self.settings = settings
        self._rules = [
            (rule, re.compile(rule.pattern, re.IGNORECASE | re.DOTALL)) for rule in settings.tools.argument_rules
        ]

    def check(
        self, name: str, args: dict[str, Any], context: GuardContext, schema: dict[str, Any] | None
    ) -> list[Verdict]:
        """Return a block verdict per failed check; an empty list means the call may run."""
        verdicts = []
        allowed = self._allowed_tools(context.agent)
        if allowed is not None and not any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
            verdicts.append(Verdict(Action.BLOCK, self.name, 1.0, "tool_not_allowed"))
        if schema is not None:
            verdicts.extend(self._check_schema(name, args, schema))
        verdicts.extend(self._check_arguments(name, args))
        verdicts.extend(self._check_destinations(args))
        return verdicts

    def _allowed_tools(self, agent: str | None) -> list[str] | None:
        policy = self.settings.tools.allowed_tools
        if not policy:
            return None
        if agent is not None and agent in policy:
            return policy[agent]
        return policy.get("*", [])

    def _check_schema(self, name: str, args: dict[str, Any], schema: dict[str, Any]) -> list[Verdict]:
        # OpenAI-style tool definitions wrap the schema; accept both forms.
        schema = schema.get("parameters", schema) if "parameters" in schema and "type" not in schema else schema
        try:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
        except SchemaError as exc:
            raise ConfigurationError(
                f"the JSON schema of tool {name!r} is invalid at {'/'.join(map(str, exc.path)) or 'the root'}: "
                f"{exc.message}; fix the tool definition"
            ) from exc
        errors = sorted(validator_class(schema).iter_errors(args), key=lambda error: list(error.path))
        return [
            Verdict(Action.BLOCK, self.name, 1.0, f"schema_invalid:{'/'.join(map(str, error.path)) or error.validator}")
            for error in errors[:5]
        ]

    def _check_arguments(self, name: str, args: dict[str, Any]) -> list[Verdict]:
        verdicts = []
        strings = list(iter_strings(args))
        for rule, pattern in self._rules:
            if not fnmatch.fnmatchcase(name, rule.tool):
                continue
            selected = [value for path, value in strings if rule.argument in ("*", path)]
            if rule.require:
                if not selected or not all(pattern.search(value) for value in selected):
                    verdicts.append(Verdict(Action.BLOCK, self.name, 1.0, rule.reason))
            elif any(pattern.search(value) for value in selected):
                verdicts.append(Verdict(Action.BLOCK, self.name, 1.0, rule.reason))
        return verdicts

    def _check_destinations(self, args: dict[str, Any]) -> list[Verdict]:
        allowed = self.settings.allowed_domains
        if allowed is None:
            return []
        for _, value in iter_strings(args):
            for match in _URL.finditer(value):
                if not domain_allowed(match.group(), allowed):
                    return [Verdict(Action.BLOCK, self.name, 1.0, "destination_not_allowed")]
            for match in _EMAIL.finditer(value):
                if not domain_allowed("//" + match.group(1), allowed):
                    return [Verdict(Action.BLOCK, self.name, 1.0, "destination_not_allowed")]
        return []
