"""Settings load from YAML and MESH_* variables, with per-tenant overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_agents.errors import ConfigurationError, InvalidInputError
from mesh_agents.settings import MeshSettings, load_settings
from mesh_agents.types import MeshRequest


def test_yaml_file_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text("cache:\n  distance_threshold: 0.2\n  ttl_s: 60\nmax_input_chars: 5000\n")
    monkeypatch.setenv("MESH_CACHE__TTL_S", "120")
    settings = load_settings(config)
    assert settings.cache.distance_threshold == 0.2
    assert settings.cache.ttl_s == 120
    assert settings.max_input_chars == 5000


def test_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nope\.yaml"):
        load_settings(tmp_path / "nope.yaml")


def test_invalid_value_is_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text("cache:\n  distance_threshold: 3.5\n")
    with pytest.raises(ConfigurationError, match="distance_threshold"):
        load_settings(config)


def test_tenant_override_merges_fields() -> None:
    settings = MeshSettings(tenants={"acme": {"cache": {"distance_threshold": 0.05}}, "globex": {}})
    acme = settings.for_tenant("acme")
    assert acme.cache.distance_threshold == 0.05
    assert acme.cache.ttl_s == settings.cache.ttl_s
    assert settings.for_tenant("globex").cache.distance_threshold == settings.cache.distance_threshold


def test_unknown_tenant_lists_known_ones() -> None:
    settings = MeshSettings(tenants={"acme": {}})
    with pytest.raises(InvalidInputError, match=r"unknown tenant .umbrella.*acme"):
        settings.for_tenant("umbrella")


def test_any_tenant_without_tenant_list() -> None:
    assert MeshSettings().for_tenant("anyone").cache.enabled


def test_request_rejects_bad_tenant_id() -> None:
    from langchain_core.messages import HumanMessage

    with pytest.raises(ValueError, match="invalid tenant id"):
        MeshRequest(messages=[HumanMessage("hi")], tenant="acme corp; DROP")


def test_request_rejects_empty_messages() -> None:
    with pytest.raises(ValueError, match="messages"):
        MeshRequest(messages=[], tenant="acme")


def test_load_settings_leaves_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mesh.yaml"
    config.write_text("max_input_chars: 777\n")
    monkeypatch.delenv("MESH_CONFIG")
    settings = load_settings(config)
    assert settings.max_input_chars == 777
    assert "MESH_CONFIG" not in __import__("os").environ
    assert MeshSettings().max_input_chars != 777
    copied = settings.for_tenant("acme")
    assert copied.max_input_chars == 777


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("cache:\n  distance_threshold: 0.1\ntenants: [\n")
    with pytest.raises(ConfigurationError, match=r"broken\.yaml.*line \d+"):
        load_settings(config)


def test_malformed_redis_url_hides_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_REDIS_URL", "http://user:s3cret-pass@cache.internal:6379")
    with pytest.raises(ConfigurationError, match="redis_url") as caught:
        load_settings()
    assert "s3cret-pass" not in str(caught.value)


def test_invalid_tenant_override_hides_values() -> None:
    settings = MeshSettings(tenants={"acme": {"cache": {"distance_threshold": "very-secret-value"}}})
    with pytest.raises(ConfigurationError, match="cache settings for tenant 'acme'") as caught:
        settings.for_tenant("acme")
    assert "very-secret-value" not in str(caught.value)


def test_tenant_override_merges_nested_fields() -> None:
    base = MeshSettings()
    default_threshold = base.guardrails.injection.rule_threshold
    settings = MeshSettings(tenants={"acme": {"guardrails": {"injection": {"rule_threshold": 0.97}}}})
    acme = settings.for_tenant("acme").guardrails
    assert acme.injection.rule_threshold == 0.97
    assert acme.injection.classifier == base.guardrails.injection.classifier
    assert settings.guardrails.injection.rule_threshold == default_threshold


@pytest.mark.parametrize(
    "url",
    ["redis://:s3cret-pass@127.0.0.1:notaport/0", "redis://127.0.0.1:6379/0?password=s3cret-pass&socket_timeout=abc"],
)
def test_unparsable_redis_url_is_configuration_error(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_REDIS_URL", url)
    with pytest.raises(ConfigurationError, match="not a valid Redis URL") as caught:
        load_settings()
    assert "s3cret-pass" not in str(caught.value)


def test_safe_url_drops_password_query_and_fragment() -> None:
    from mesh_agents._urls import safe_url

    assert safe_url("redis://user:pw@host:6379/0?password=x#y") == "redis://***@host:6379/0"
    assert safe_url("redis://host:6379/0") == "redis://host:6379/0"
    assert safe_url("redis://[::1") == "redis://(unparsable)"


@pytest.mark.parametrize(("content", "problem"), [(b"- a\n- b\n", "mapping"), (b"\xff\xfe bad", "not UTF-8")])
def test_settings_file_shape_errors(tmp_path: Path, content: bytes, problem: str) -> None:
    config = tmp_path / "odd.yaml"
    config.write_bytes(content)
    with pytest.raises(ConfigurationError, match=problem):
        load_settings(config)


@pytest.mark.parametrize(
    "yaml_text",
    ["cache:\n  distance_treshold: 0.01\n", "redaction:\n  detectorz: [gliner]\n", "tracing:\n  capture: true\n"],
)
def test_misspelled_capability_key_is_rejected(tmp_path: Path, yaml_text: str) -> None:
    config = tmp_path / "typo.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ConfigurationError, match="Extra inputs are not permitted"):
        load_settings(config)
