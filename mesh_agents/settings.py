"""Mesh settings from ``mesh.yaml`` and ``MESH_*`` environment variables.

Precedence, highest first: arguments passed to ``MeshSettings(...)``, ``MESH_*``
variables (nested with ``__``, for example ``MESH_CACHE__DISTANCE_THRESHOLD=0.15``),
the YAML file (``MESH_CONFIG`` or ``./mesh.yaml``), then the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from mesh_agents._urls import safe_url
from mesh_agents.cache.schema import CacheSettings
from mesh_agents.errors import ConfigurationError, InvalidInputError
from mesh_agents.guardrails.schema import GuardrailSettings
from mesh_agents.redaction.schema import RedactionSettings
from mesh_agents.routing.schema import RoutingSettings
from mesh_agents.tracing.schema import TracingSettings
from mesh_agents.types import validate_identifier
from mesh_agents.usage.schema import UsageSettings

__all__ = ["MeshSettings", "TenantSettings", "describe_errors", "load_settings"]

_CAPABILITIES = ("redaction", "cache", "routing", "usage", "guardrails")


class TenantSettings(BaseModel):
    """Per-tenant overrides; a capability left out uses the mesh-wide settings.

    An override is merged field by field, recursively, over the mesh-wide settings, so
    a tenant that sets only ``guardrails.injection.rule_threshold`` keeps every other
    guardrail setting.
    """

    redaction: dict[str, Any] | None = None
    cache: dict[str, Any] | None = None
    routing: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    guardrails: dict[str, Any] | None = None


class MeshSettings(BaseSettings):
    """All mesh settings.

    Attributes:
        redis_url: When set, every store that supports Redis uses it (cache, vault,
            budgets, ledger, circuit breakers), so many processes share state.
        tenants: Known tenants and their overrides. When empty, any well-formed
            tenant id is accepted with the mesh-wide settings; when not empty, a
            request from another tenant is rejected.
        max_input_chars: Longest accepted request, summed over its messages.
    """

    model_config = SettingsConfigDict(
        env_prefix="MESH_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    config_file: ClassVar[Path | None] = None
    redis_url: str | None = None
    max_input_chars: int = Field(default=200_000, ge=1)
    redaction: RedactionSettings = Field(default_factory=RedactionSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    usage: UsageSettings = Field(default_factory=UsageSettings)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    tenants: dict[str, TenantSettings] = Field(default_factory=dict)

    @field_validator("tenants")
    @classmethod
    def _check_tenant_ids(cls, value: dict[str, TenantSettings]) -> dict[str, TenantSettings]:
        for tenant in value:
            validate_identifier("tenant", tenant)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = getattr(settings_cls, "config_file", None) or Path(os.environ.get("MESH_CONFIG", "mesh.yaml"))
        try:
            yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=path)
        except UnicodeDecodeError as exc:
            raise ConfigurationError(
                f"settings file {str(path)!r} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
            ) from None
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"settings file {str(path)!r} must contain a mapping of settings at the top level "
                f"({type(exc).__name__}); see examples/mesh.yaml"
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ConfigurationError(
                f"invalid YAML in settings file {str(path)!r}{where}: {problem}; fix the file or point "
                "MESH_CONFIG at another one"
            ) from exc
        return (init_settings, env_settings, yaml_source)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            # Only the scheme is shown: the rest of a URL can carry a password.
            scheme = value.split("://", 1)[0] if "://" in value else "no scheme"
            raise ValueError(
                f"redis_url must start with redis://, rediss:// or unix:// (got {scheme}); "
                "for example redis://localhost:6379/0"
            )
        try:
            urlsplit(value).port  # noqa: B018 - raises ValueError for a port that is not a number
            from redis.connection import parse_url

            parse_url(value)
        except ImportError:
            pass
        except ValueError as exc:
            raise ValueError(
                f"redis_url {safe_url(value)} is not a valid Redis URL ({exc}); "
                "use redis://[user:password@]host:port/db"
            ) from None
        return value

    def check_tenant(self, tenant: str) -> None:
        """Raise InvalidInputError if tenants are configured and ``tenant`` is not one."""
        if self.tenants and tenant not in self.tenants:
            known = ", ".join(sorted(self.tenants))
            raise InvalidInputError(
                f"unknown tenant {tenant!r}: add it under 'tenants' in mesh.yaml or use one of: {known}",
                details={"tenant": tenant},
            )

    def for_tenant(self, tenant: str) -> MeshSettings:
        """Return the settings that apply to ``tenant``, its overrides merged in."""
        self.check_tenant(tenant)
        overrides = self.tenants.get(tenant)
        if overrides is None:
            return self
        update: dict[str, Any] = {}
        for capability in _CAPABILITIES:
            patch = getattr(overrides, capability)
            if patch:
                base = getattr(self, capability)
                merged = _deep_merge(base.model_dump(), patch)
                try:
                    update[capability] = type(base).model_validate(merged)
                except ValidationError as exc:
                    raise ConfigurationError(
                        f"invalid {capability} settings for tenant {tenant!r}: {describe_errors(exc)}"
                    ) from exc
        return self.model_copy(update=update)


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge ``patch`` into ``base`` key by key, recursing into nested mappings.

    Lists and other values in ``patch`` replace the base value whole.
    """
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> MeshSettings:
    """Load settings from ``path`` (or ``MESH_CONFIG``, or ``./mesh.yaml``) and the environment.

    Raises:
        ConfigurationError: the file is missing or a value is invalid; the message
            names the field.
    """
    settings_cls: type[MeshSettings] = MeshSettings
    if path is not None:
        if not Path(path).is_file():
            raise ConfigurationError(f"settings file {str(path)!r} not found: check the path")
        # A subclass carries the path, so the process environment stays untouched.
        namespace = {"config_file": Path(path), "__annotations__": {"config_file": ClassVar[Path | None]}}
        settings_cls = type("MeshSettings", (MeshSettings,), namespace)
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid mesh settings: {describe_errors(exc)}") from exc


def describe_errors(error: ValidationError) -> str:
    """Summarise a validation error as ``field: problem`` pairs, without the input values.

    Input values are left out because a settings value can be a secret (a Redis URL
    with a password) and a request field can be prompt text.
    """
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or "value"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)
