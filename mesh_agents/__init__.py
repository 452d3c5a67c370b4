"""mesh-agents: an agent mesh between AI agents and the models and tools they call.

Importing the package loads no model, opens no connection and configures no logging
or telemetry; ``Mesh`` and the capabilities load their dependencies on first use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mesh_agents.errors import (
    BackendUnavailable,
    BudgetExceeded,
    ConfigurationError,
    GuardrailBlocked,
    InvalidInputError,
    MeshError,
    MissingExtraError,
    PolicyViolation,
    RedactionBlocked,
    TargetsExhausted,
)
from mesh_agents.types import CacheControl, MeshRequest, MeshResult, ModelParams, Source

if TYPE_CHECKING:
    from mesh_agents.mesh import Mesh
    from mesh_agents.settings import MeshSettings, load_settings

__all__ = [
    "BackendUnavailable",
    "BudgetExceeded",
    "CacheControl",
    "ConfigurationError",
    "GuardrailBlocked",
    "InvalidInputError",
    "Mesh",
    "MeshError",
    "MeshRequest",
    "MeshResult",
    "MeshSettings",
    "MissingExtraError",
    "ModelParams",
    "PolicyViolation",
    "RedactionBlocked",
    "Source",
    "TargetsExhausted",
    "load_settings",
]

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    "Mesh": "mesh_agents.mesh",
    "MeshSettings": "mesh_agents.settings",
    "load_settings": "mesh_agents.settings",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'mesh_agents' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
