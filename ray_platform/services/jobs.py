"""Submitting the project's jobs to a Ray cluster, as ``ray job submit`` does.

The CLI and the demo use this; users may equally run
``ray job submit --address URL --working-dir . -- python -m ray_platform.jobs.<job>``.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from ray_platform.errors import PlatformError, ServiceError
from ray_platform.settings import Settings, get_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


class JobFailed(PlatformError, RuntimeError):
    """A submitted job ended in a state other than SUCCEEDED."""


@dataclass(frozen=True)
class JobRun:
    """A finished job: its submission id, final status, logs and parsed ``RESULT`` line."""

    submission_id: str
    status: str
    seconds: float
    logs: str

    @property
    def result(self) -> dict[str, object] | None:
        """The JSON the job printed after ``RESULT `` (its last such line), if any."""
        lines = [ln for ln in self.logs.splitlines() if ln.startswith("RESULT ")]
        return json.loads(lines[-1][len("RESULT ") :]) if lines else None


def submit_job(
    module: str,
    *args: str,
    settings: Settings | None = None,
    timeout_s: float = 3600,
) -> JobRun:
    """Submit ``python -m module args`` with the project as working dir; wait for the end."""
    from ray.job_submission import JobSubmissionClient

    s = settings or get_settings()
    try:
        client = JobSubmissionClient(s.ray_dashboard_url)
    except (ConnectionError, RuntimeError) as exc:
        raise ServiceError(f"no Ray cluster at {s.ray_dashboard_url}: {exc}") from None
    entrypoint = shlex.join(["python", "-m", module, *args])
    started = time.monotonic()
    sid = client.submit_job(
        entrypoint=entrypoint,
        runtime_env={"working_dir": str(PROJECT_ROOT), "env_vars": s.as_env()},
        metadata={"submitted_by": "gbank"},
    )
    while True:
        status = str(client.get_job_status(sid).value)
        if status in _TERMINAL:
            break
        if time.monotonic() - started > timeout_s:
            client.stop_job(sid)
            raise JobFailed(f"job {module} ({sid}) timed out after {timeout_s:.0f}s")
        time.sleep(1.0)
    run = JobRun(sid, status, time.monotonic() - started, client.get_job_logs(sid))
    if status != "SUCCEEDED":
        tail = run.logs.strip().splitlines()[-1:] or ["no output"]
        raise JobFailed(f"job {module} ({sid}) {status}: {tail[0]}")
    return run
