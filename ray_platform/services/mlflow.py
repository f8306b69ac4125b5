"""The MLflow tracking server and UI on the configured backend.

``mlflow server --backend-store-uri <settings.mlflow_uri> --default-artifact-root
<home>/mlflow/artifacts --host 127.0.0.1 --port 5000``: SQLite and a local artifact root by
default, so a reviewer can compare runs and model versions in the browser.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ray_platform.errors import ServiceError
from ray_platform.settings import Settings, get_settings


def server_command(settings: Settings | None = None, port: int = 5000) -> list[str]:
    """The ``mlflow server`` command line for ``settings``."""
    s = settings or get_settings()
    artifacts = s.home / "mlflow" / "artifacts"
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    return [
        mlflow, "server", "--backend-store-uri", s.mlflow_uri,
        "--default-artifact-root", artifacts.as_uri(), "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


def serve(settings: Settings | None = None, port: int = 5000) -> int:
    """Run the server in the foreground until interrupted; returns its exit code."""
    s = settings or get_settings()
    (s.home / "mlflow" / "artifacts").mkdir(parents=True, exist_ok=True)
    cmd = server_command(s, port)
    try:
        return subprocess.call(cmd)
    except OSError as exc:
        raise ServiceError(f"could not start the MLflow server ({cmd[0]}): {exc}") from None
