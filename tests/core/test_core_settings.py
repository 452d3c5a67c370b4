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
