"""A real Ray cluster on loopback: one head node and one worker node, started with ``ray start``.

Jobs reach it exactly as they would reach a production cluster, through the job-submission
API at ``settings.ray_dashboard_url``. The platform's ``GBANK_*`` settings are exported into the
nodes' environment so every submitted job sees the same lake, landing zone and services.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ray_platform.errors import ServiceError
from ray_platform.services.base import LocalService
from ray_platform.settings import Settings, get_settings

START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ClusterStatus:
    """What the dashboard reports about the local cluster."""

    running: bool
    alive_nodes: int
    dashboard_url: str


def _ray_executable() -> str:
    # The `ray` next to this interpreter, so the nodes run the project's environment.
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.exists() else shutil.which("ray")
    if not found:
        raise ServiceError("cannot start Ray: the `ray` command is not installed (run `make`)")
    return found


class LocalRayCluster(LocalService):
    """Start, stop and inspect the two-node Ray cluster on 127.0.0.1."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.log_dir = self.settings.home / "ray"

    @property
    def gcs_address(self) -> str:
        """Address of the head's GCS, which worker nodes join."""
        return f"127.0.0.1:{self.settings.ray_head_port}"

    def status(self) -> ClusterStatus:
        """Ask the dashboard how many nodes are alive; not running when it does not answer."""
        url = f"{self.settings.ray_dashboard_url}/nodes?view=summary"
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                body = json.load(resp)
        except (urllib.error.URLError, OSError, ValueError):
            return ClusterStatus(False, 0, self.settings.ray_dashboard_url)
        nodes = body.get("data", {}).get("summary", [])
        alive = sum(1 for n in nodes if n.get("raylet", {}).get("state") == "ALIVE")
        return ClusterStatus(True, alive, self.settings.ray_dashboard_url)

    def start(self, timeout_s: float = START_TIMEOUT_S) -> bool:
        """Start head and worker unless already up; returns True when this call started them."""
        if self.status().alive_nodes >= 2:
            return False
        self.log_dir.mkdir(parents=True, exist_ok=True)
        s = self.settings
        store = str(s.ray_object_store_mb * 1024 * 1024)
        port = s.ray_dashboard_url.rsplit(":", 1)[-1]
        if not self.status().running:
            self._ray(
                "start", "--head", "--node-ip-address=127.0.0.1",
                f"--port={s.ray_head_port}", "--dashboard-host=127.0.0.1",
                f"--dashboard-port={port}", f"--num-cpus={s.ray_head_cpus}",
                f"--object-store-memory={store}", "--include-dashboard=true",
                "--disable-usage-stats",
            )  # fmt: skip
        self._wait(lambda st: st.alive_nodes >= 1, timeout_s, "the Ray head")
        self._ray(
            "start", f"--address={self.gcs_address}", "--node-ip-address=127.0.0.1",
            f"--num-cpus={s.ray_worker_cpus}", f"--object-store-memory={store}",
            "--disable-usage-stats",
        )  # fmt: skip
        self._wait(lambda st: st.alive_nodes >= 2, timeout_s, "the Ray worker node")
        return True

    def kill_worker_node(self) -> int:
        """SIGKILL a worker node's raylet, as a lost machine would; returns its pid.

        The node's workers, object store and agents share the raylet's fate. For the fault
        tests: :meth:`add_worker_node` brings a replacement, as an autoscaler would.
        """
        import signal

        for pid in _raylet_pids():
            with contextlib.suppress(OSError):
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                gcs = [a for a in args if a.startswith(b"--gcs-address=")]
                ours = gcs and gcs[0].endswith(f":{self.settings.ray_head_port}".encode())
                if ours and b"--head" not in args:
                    os.kill(pid, signal.SIGKILL)
                    return pid
        raise ServiceError("no worker node's raylet is running on this machine")

    def add_worker_node(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start one more worker node and wait until the cluster has two alive nodes."""
        s = self.settings
        self._ray(
            "start", f"--address={self.gcs_address}", "--node-ip-address=127.0.0.1",
            f"--num-cpus={s.ray_worker_cpus}",
            f"--object-store-memory={s.ray_object_store_mb * 1024 * 1024}",
            "--disable-usage-stats",
        )  # fmt: skip
        self._wait(lambda st: st.alive_nodes >= 2, timeout_s, "the replacement worker node")

    def stop(self) -> None:
        """Stop every Ray node on this machine (idempotent)."""
        self._ray("stop", "--force", check=False)

    def _ray(self, *args: str, check: bool = True) -> None:
        # Jobs run `python -m ...` through PATH: put this environment's interpreter first so
        # submitted jobs import the project's packages, as on a cluster built from its image.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        # The local cluster listens on loopback only; Ray's token authentication (switched on
        # when a token file exists under ~/.ray) would make every local client carry the token.
        # A production cluster (KubeRay) sets its own RAY_AUTH_MODE.
        env = {
            **os.environ,
            **self.settings.as_env(),
            "PATH": path,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "disabled",
        }
        log = self.log_dir / "ray-cli.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write(f"$ ray {' '.join(args)}\n")
            out.flush()
            done = subprocess.run(
                [_ray_executable(), *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        if check and done.returncode != 0:
            tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
            raise ServiceError(f"`ray {args[0]}` failed ({done.returncode}): {tail[0]} (see {log})")

    def _wait(self, ready, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready(self.status()):
                return
            time.sleep(1.0)
        raise ServiceError(f"{what} did not come up within {timeout_s:.0f}s (see {self.log_dir})")


def _raylet_pids() -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "raylet":
                    out.append(int(entry.name))
    return out
