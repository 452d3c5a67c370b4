"""In-process cache backend: one vector matrix per scope, least-recently-used eviction."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mesh_agents.cache.base import CacheRecord, CacheScope

__all__ = ["MemoryCacheBackend"]


@dataclass
class _Partition:
    """The entries of one scope, their vectors packed row by row for one matrix product."""

    dims: int
    ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    vectors: npt.NDArray[np.float32] = field(init=False)

    def __post_init__(self) -> None:
        self.vectors = np.empty((16, self.dims), dtype=np.float32)

    def upsert(self, entry_id: str, vector: npt.NDArray[np.float32]) -> None:
        row = self.rows.get(entry_id)
        if row is None:
            row = len(self.ids)
            if row == len(self.vectors):
                grown = np.empty((2 * len(self.vectors), self.dims), dtype=np.float32)
                grown[:row] = self.vectors[:row]
                self.vectors = grown
            self.ids.append(entry_id)
            self.rows[entry_id] = row
        self.vectors[row] = vector

    def remove(self, entry_id: str) -> None:
        # Swap the last row into the hole so the matrix stays dense.
        row = self.rows.pop(entry_id)
        last = len(self.ids) - 1
        if row != last:
            moved = self.ids[last]
            self.ids[row] = moved
            self.vectors[row] = self.vectors[last]
            self.rows[moved] = row
        self.ids.pop()


class MemoryCacheBackend:
    """Entries in this process only, searched by exact cosine distance within a scope.

    Args:
        max_entries: Entries kept across all tenants; storing one more evicts the
            least recently used (read or written) entry.
        clock: Source of Unix time in seconds; tests pass their own to expire entries.

    The distance is ``1 - a @ b`` over L2-normalised float32 vectors, the same cosine
    distance (0 to 2) that Redis computes for a COSINE vector field.
    """

    def __init__(self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.RLock()
        self._records: OrderedDict[str, CacheRecord] = OrderedDict()
        self._partitions: dict[str, _Partition] = {}

    def get(self, scope: CacheScope, entry_id: str) -> CacheRecord | None:
        with self._lock:
            record = self._records.get(entry_id)
            if record is None or record.scope_digest != scope.digest() or record.tenant != scope.tenant:
                return None
            if self._expired(record):
                self._remove(entry_id)
                return None
            self._records.move_to_end(entry_id)
            return record

    def search(
        self, scope: CacheScope, vector: npt.NDArray[np.float32], k: int
    ) -> list[tuple[str, float, CacheRecord]]:
        with self._lock:
            partition = self._partitions.get(scope.digest())
            if partition is None or not partition.ids:
                return []
            count = len(partition.ids)
            distances = 1.0 - partition.vectors[:count] @ np.asarray(vector, dtype=np.float32)
            # Take a few extra rows so that expired entries found on the way do not shorten the answer.
            wanted = min(count, k + 8)
            nearest = np.argpartition(distances, wanted - 1)[:wanted] if wanted < count else np.arange(count)
            ordered = nearest[np.argsort(distances[nearest], kind="stable")]
            found: list[tuple[str, float, CacheRecord]] = []
            expired: list[str] = []
            for row in ordered:
                entry_id = partition.ids[row]
                record = self._records[entry_id]
                if self._expired(record):
                    expired.append(entry_id)
                    continue
                found.append((entry_id, float(distances[row]), record))
                if len(found) == k:
                    break
            for entry_id in expired:
                self._remove(entry_id)
            return found

    def put(self, scope: CacheScope, record: CacheRecord, vector: npt.NDArray[np.float32]) -> str:
        digest = scope.digest()
        with self._lock:
            partition = self._partitions.get(digest)
            if partition is None:
                partition = self._partitions[digest] = _Partition(dims=int(np.shape(vector)[-1]))
            partition.upsert(record.entry_id, np.asarray(vector, dtype=np.float32))
            self._records[record.entry_id] = record
            self._records.move_to_end(record.entry_id)
            while len(self._records) > self.max_entries:
                oldest = next(iter(self._records))
                self._remove(oldest)
            return record.entry_id

    def put_many(self, scope: CacheScope, records: Sequence[CacheRecord], vectors: npt.NDArray[np.float32]) -> int:
        """Store many entries of one scope, for warm-up and benchmarks; return the count."""
        for record, vector in zip(records, vectors, strict=True):
            self.put(scope, record, vector)
        return len(records)

    def delete(self, *, tenant: str, tag: str | None = None, entry_id: str | None = None) -> int:
        with self._lock:
            if entry_id is not None:
                record = self._records.get(entry_id)
                if record is None or record.tenant != tenant or (tag is not None and tag not in record.tags):
                    return 0
                self._remove(entry_id)
                return 1
            doomed = [
                key
                for key, record in self._records.items()
                if record.tenant == tenant and (tag is None or tag in record.tags)
            ]
            for key in doomed:
                self._remove(key)
            return len(doomed)

    def count(self, tenant: str | None = None) -> int:
        with self._lock:
            now = self._clock()
            return sum(
                1
                for record in self._records.values()
                if (tenant is None or record.tenant == tenant)
                and (record.expires_at is None or record.expires_at > now)
            )

    def _expired(self, record: CacheRecord) -> bool:
        return record.expires_at is not None and record.expires_at <= self._clock()

    def _remove(self, entry_id: str) -> None:
        record = self._records.pop(entry_id)
        partition = self._partitions[record.scope_digest]
        partition.remove(entry_id)
        if not partition.ids:
            del self._partitions[record.scope_digest]
