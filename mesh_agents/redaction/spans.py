"""Merging entities from several detectors into non-overlapping spans."""

from __future__ import annotations

from collections.abc import Iterable

from mesh_agents.redaction.base import Entity

__all__ = ["merge_entities"]


def merge_entities(entities: Iterable[Entity]) -> list[Entity]:
    """Keep a set of non-overlapping entities, sorted by ``start``.

    Where spans overlap, the higher score wins, then the longer span, then the
    earlier one. Validated patterns score above model guesses, so a checksum-verified
    IBAN beats a phone number read inside it and a name guessed across it.
    """
    ranked = sorted(
        (entity for entity in entities if entity.end > entity.start),
        key=lambda e: (-e.score, -(e.end - e.start), e.start),
    )
    kept: list[Entity] = []
    taken: list[tuple[int, int]] = []
    for entity in ranked:
        if any(entity.start < end and start < entity.end for start, end in taken):
            continue
        kept.append(entity)
        taken.append((entity.start, entity.end))
    kept.sort(key=lambda e: e.start)
    return kept
