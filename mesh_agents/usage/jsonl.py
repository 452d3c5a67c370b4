"""A ledger in a JSON Lines file, for one machine without Redis."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from mesh_agents.usage.base import UsageRecord

__all__ = ["JsonlLedger"]


class JsonlLedger:
    """Usage records appended to a file, one JSON object per line.

    Each record is written with one ``write`` call on a file opened in append mode,
    so processes on one machine can share the file (POSIX appends of one short line
    do not interleave on local file systems). The file is never trimmed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: UsageRecord) -> None:
        line = json.dumps(record.to_dict(), separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line)

    def query(self, *, since: float | None = None, tenant: str | None = None) -> list[UsageRecord]:
        if not self.path.exists():
            return []
        records = []
        with self.path.open(encoding="utf-8") as file:
            for line in file:
                if not line.strip():
                    continue
                record = UsageRecord.from_dict(json.loads(line))
                if (since is None or record.timestamp >= since) and (tenant is None or record.tenant == tenant):
                    records.append(record)
        return records
