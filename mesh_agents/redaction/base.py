"""Contracts of the redaction capability: entities, detectors and the vault."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["BatchDetector", "Detector", "Entity", "MaskResult", "Vault"]


@dataclass(frozen=True)
class Entity:
    """A detected span of personal data.

    Attributes:
        label: Entity label such as ``"person"`` or ``"email"`` (lower case).
        start: Start offset in Python ``str`` code points.
        end: End offset, exclusive.
        score: Detector confidence, 0 to 1.
        detector: Name of the detector that found it (``"patterns"``, ``"gliner"``).
        value: The personal value itself; kept out of ``repr`` so it never reaches logs.
    """

    label: str
    start: int
    end: int
    score: float
    detector: str
    value: str = field(repr=False, compare=False)


@dataclass
class MaskResult:
    """A text with its entities replaced.

    Attributes:
        text: The masked text.
        entities: Entities found in the original text, in order of ``start``.
        placeholders: Placeholder put in place of each entity, same order as entities;
            ``None`` for entities that were redacted or hashed without a way back.
    """

    text: str
    entities: list[Entity]
    placeholders: list[str | None]


@runtime_checkable
class Detector(Protocol):
    """Finds personal data in text."""

    name: str

    def detect(self, text: str, labels: Sequence[str] | None = None) -> list[Entity]:
        """Return entities in ``text``, optionally only those with the given labels."""
        ...


@runtime_checkable
class BatchDetector(Detector, Protocol):
    """A detector that is faster on many texts at once, such as a neural model."""

    def detect_many(self, texts: Sequence[str], labels: Sequence[str] | None = None) -> list[list[Entity]]:
        """Return the entities of each text, in the order of ``texts``."""
        ...


@runtime_checkable
class Vault(Protocol):
    """Maps placeholders back to values, per tenant and session.

    The same label and value get the same placeholder within one tenant and session.
    Entries expire ``ttl_s`` seconds after the session was last used; ``None`` means
    the vault's own default.
    """

    def placeholder_for(self, tenant: str, session: str, label: str, value: str) -> str:
        """Return the placeholder for ``value``, creating one such as ``<PERSON_1>``."""
        ...

    def value_for(self, tenant: str, session: str, placeholder: str) -> str | None:
        """Return the value behind ``placeholder``, or None if it is unknown or expired."""
        ...

    def placeholders_for(
        self, tenant: str, session: str, items: Sequence[tuple[str, str]], *, ttl_s: int | None = None
    ) -> list[str]:
        """Return the placeholder of each ``(label, value)`` pair, creating missing ones, in one step."""
        ...

    def values_for(
        self, tenant: str, session: str, placeholders: Iterable[str], *, ttl_s: int | None = None
    ) -> dict[str, str]:
        """Return the values of the known placeholders among ``placeholders``."""
        ...

    def forget(self, tenant: str, session: str) -> None:
        """Delete every placeholder of the session."""
        ...
