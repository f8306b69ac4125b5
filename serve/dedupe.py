"""Which results a Kafka consumer has already produced, kept across restarts (SQLite).

One database per input partition under ``<home>/serve/consumer/`` holds ``(transaction_id,
topic)`` for every result produced, and the output offsets at which the batch in flight began.
Before a batch is produced the consumer records those *marks*; after its produce futures
succeed it records the ids, then commits the input offsets. A crash between produce and
record leaves ids in the output topic that the database lacks; on start the consumer reads the
output partitions from the marks to their end and records what it finds (:meth:`recover`), so
the replay of the uncommitted input produces each missing result once and nothing twice.
The same table dedupes a transaction id that arrives again later (an upstream retry or replay).

On KubeRay the folder must be a persistent volume (or the table moved to Redis).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path


class ProducedIds:
    """``(transaction_id, topic)`` pairs already produced, and the in-flight batch's marks."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS produced (id TEXT, topic TEXT, at REAL, "
            "PRIMARY KEY (id, topic)) WITHOUT ROWID"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS marks (topic TEXT, partition INTEGER, next_offset INTEGER, "
            "PRIMARY KEY (topic, partition))"
        )

    def produced(self, ids: Iterable[str], topic: str) -> set[str]:
        """The ids among ``ids`` already produced to ``topic``."""
        ids = list(ids)
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT id FROM produced WHERE topic = ? AND id IN ({','.join('?' * len(chunk))})"
            out.update(r[0] for r in self.db.execute(q, [topic, *chunk]))
        return out

    def add(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Record produced ``(id, topic)`` pairs."""
        now = time.time()
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT OR IGNORE INTO produced VALUES (?, ?, ?)", [(i, t, now) for i, t in pairs]
        )
        self.db.execute("COMMIT")

    def set_marks(self, marks: dict[tuple[str, int], int]) -> None:
        """Record where each output partition stood before the batch in flight."""
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR REPLACE INTO marks VALUES (?, ?, ?)",
                            [(t, p, o) for (t, p), o in marks.items()])  # fmt: skip
        self.db.execute("COMMIT")

    def marks(self) -> dict[tuple[str, int], int]:
        """The marks of the last batch (empty on a first start)."""
        return {(t, p): o for t, p, o in self.db.execute("SELECT * FROM marks")}

    def prune(self, older_than_s: float) -> int:
        """Forget pairs older than ``older_than_s`` seconds; returns how many."""
        cur = self.db.execute("DELETE FROM produced WHERE at < ?", (time.time() - older_than_s,))
        return cur.rowcount

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM produced").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        self.db.close()
