"""The vectorizer plug point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Vectorizer"]


@runtime_checkable
class Vectorizer(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    Because the vectors are normalised, cosine distance is ``1 - a @ b`` and lies
    between 0 and 2, the unit of every ``distance_threshold`` in the mesh.
    """

    name: str
    dims: int

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts in one batch; returns an array of shape ``(len(texts), dims)``."""
        ...
