"""GDPR erasures reaching the scoring processes' in-memory velocity windows.

Every scorer (:class:`serve.scoring.Scorer`) holds an :class:`ErasureWatch` on the erasure
notices file (:mod:`ray_platform.governance.erasure_notices`): one ``stat`` per batch, and when
the file grows, the windows whose card or customer id has a listed keyed reference are dropped
before the batch is scored.
"""

from __future__ import annotations

import json
import threading

from ray_platform.governance.erasure_notices import notices_path, serving_ref
from ray_platform.settings import Settings, get_settings


class ErasureWatch:
    """Follows the notices file and applies new notices to a velocity state."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.path = notices_path(self.settings)
        self._offset = 0
        self._key: bytes | None = None
        self._lock = threading.Lock()
        self.forgotten = 0

    def apply(self, state: object) -> int:
        """Drop the windows named by notices appended since the last call; returns how many."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        with self._lock:
            if size <= self._offset:
                return 0
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read(size - self._offset)
            complete = chunk.rfind(b"\n") + 1  # a line still being written waits its turn
            self._offset += complete
            refs: set[str] = set()
            for line in chunk[:complete].splitlines():
                if line.strip():
                    refs.update(json.loads(line)["refs"])
            if not refs:
                return 0
            if self._key is None:
                from ray_platform.lake.tokens import token_key

                self._key = token_key(self.settings)
            dropped = state.forget(lambda k: serving_ref(k, self._key) in refs)  # type: ignore[attr-defined]
            self.forgotten += dropped
            return dropped
