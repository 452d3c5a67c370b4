"""The redaction capability: find personal data, mask it reversibly, restore it exactly.

``Redactor`` is the entry point. Detectors (``PatternDetector``, ``GlinerDetector``)
find entities; a vault (``MemoryVault``, ``RedisVault``) keeps placeholders per tenant
and session.
"""

from mesh_agents.redaction.base import BatchDetector, Detector, Entity, MaskResult, Vault
from mesh_agents.redaction.memory import MemoryVault
from mesh_agents.redaction.patterns import PatternDetector
from mesh_agents.redaction.placeholders import StreamRestorer
from mesh_agents.redaction.redactor import Redactor
from mesh_agents.redaction.redis import RedisVault
from mesh_agents.redaction.schema import GlinerSettings, RedactionAction, RedactionSettings

__all__ = [
    "BatchDetector",
    "Detector",
    "Entity",
    "GlinerSettings",
    "MaskResult",
    "MemoryVault",
    "PatternDetector",
    "RedactionAction",
    "RedactionSettings",
    "Redactor",
    "RedisVault",
    "StreamRestorer",
    "Vault",
]
