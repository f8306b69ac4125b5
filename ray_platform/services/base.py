"""The lifecycle every local service shares: Kafka, Redis, the S3 server and the Ray cluster."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from typing import Self


class LocalService(abc.ABC):
    """A service this machine runs: idempotent start and stop, and a scoped ``running()``."""

    @abc.abstractmethod
    def start(self) -> bool:
        """Start unless already running; True when this call started it."""

    @abc.abstractmethod
    def stop(self) -> object:
        """Stop if running (idempotent)."""

    @contextlib.contextmanager
    def running(self) -> Iterator[Self]:
        """Start if needed; on exit stop only if this block started it.

        Tests and the demo share services a user may already have up; leaving those alone is
        what lets one broker or cluster serve them all.
        """
        started = self.start()
        try:
            yield self
        finally:
            if started:
                self.stop()
