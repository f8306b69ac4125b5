"""The lifecycle every local service shares: Kafka, Redis, the S3 server and the Ray cluster."""

from __future__ import annotations

import abc
import contextlib
import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively.

    Two shells or test sessions starting the same service at once must not both launch it (or
    run its initdb, or its build).
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_exit(alive: Callable[[], bool], timeout: float) -> bool:
    """Poll ``alive`` until it is False or ``timeout`` passes; True when it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return True
        time.sleep(0.2)
    return not alive()


def terminate(pid: int, alive: Callable[[], bool], timeout: float) -> None:
    """SIGTERM ``pid`` (a clean shutdown flushes), SIGKILL it if still ``alive`` after ``timeout``.

    ``alive`` checks that the pid is still the service's process, not a recycled one.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_exit(alive, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_exit(alive, 10.0)


def launch(
    cmd: list[str], cwd: Path, log_file: Path, pid_file: Path, *, append: bool = True
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` detached, output to ``log_file``, and record its pid in ``pid_file``.

    A new session keeps the service alive after the shell or test run that started it.
    """
    with log_file.open("ab" if append else "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def recorded_pid(pid_file: Path, is_ours: Callable[[int], bool]) -> int | None:
    """The pid in ``pid_file`` if that process is alive and still the service (``is_ours``)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_ours(pid) else None


def stop_recorded(pid_file: Path, is_ours: Callable[[int], bool], timeout: float) -> bool:
    """Terminate the service recorded in ``pid_file`` and forget it; False if none was alive."""
    pid = recorded_pid(pid_file, is_ours)
    if pid is not None:
        terminate(pid, lambda: is_ours(pid), timeout)
    pid_file.unlink(missing_ok=True)
    return pid is not None
