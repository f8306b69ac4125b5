"""A local S3-compatible server (moto's standalone server) on loopback, for tests and demos.

The lake and landing zone can live in ``s3://`` buckets served by it; point
``GBANK_S3_ENDPOINT_URL`` at :attr:`LocalS3Server.endpoint_url`::

    with LocalS3Server(port=9900).running() as s3:
        bucket = s3.create_bucket()  # a fresh, uniquely named bucket
        settings = load_settings(lake_uri=f"s3://{bucket}/lake", s3_endpoint_url=s3.endpoint_url)

The server keeps its buckets in memory: stopping it loses them. Its pid file and log live under
``<settings.home>/s3/``, so ``stop()`` works from another process (``cluster/s3/s3-server``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.error import URLError

from ray_platform.errors import ServiceError
from ray_platform.services.base import LocalService
from ray_platform.settings import Settings, get_settings

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
"""What the server accepts; set in the environment (unless already set) by ``start()``."""


class LocalS3Server(LocalService):
    """Start, stop and inspect moto's S3 server on ``host:port``; safe to call repeatedly."""

    def __init__(
        self,
        port: int = 9900,
        host: str = "127.0.0.1",
        settings: Settings | None = None,
        *,
        start_timeout: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.endpoint_url = f"http://{host}:{port}"
        self.start_timeout = start_timeout
        self.dir = (settings or get_settings()).home / "s3"
        self.pid_file = self.dir / f"moto-{port}.pid"
        self.log_file = self.dir / "moto.log"  # appended to by every port

    def running_now(self) -> bool:
        """Whether an S3 server answers on the endpoint (this one or another)."""
        try:
            with urllib.request.urlopen(self.endpoint_url, timeout=1.0) as reply:
                return reply.status < 500
        except (URLError, OSError):
            return False

    def start(self) -> bool:
        """Start the server and wait until it answers; False if one was already answering."""
        for key, value in DUMMY_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        if self.running_now():
            return False
        if not _port_free(self.host, self.port):
            raise ServiceError(
                f"cannot start the S3 server: port {self.port} on {self.host} is taken by "
                "something that is not an S3 server; pick another port"
            )
        binary = Path(sys.executable).with_name("moto_server")
        if not binary.exists():
            raise ServiceError(
                "cannot start the S3 server: moto_server is not installed "
                '(pip install "moto[server]")'
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [str(binary), "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + self.start_timeout
        while not self.running_now():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait(timeout=10)
                self.pid_file.unlink(missing_ok=True)
                raise ServiceError(
                    f"the S3 server did not answer on {self.endpoint_url} within "
                    f"{self.start_timeout:.0f} s (log: {self.log_file})"
                )
            time.sleep(0.1)
        return True

    def stop(self) -> bool:
        """Stop the server this home started on this port; False if it was not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return False
        self.pid_file.unlink(missing_ok=True)
        if not _is_moto(pid):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _is_moto(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_moto(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return True

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique one when ``name`` is None); returns its name."""
        import boto3

        name = name or f"gbank-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=DUMMY_CREDENTIALS["AWS_REGION"],
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        )
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _is_moto(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if this process launched it and it has exited
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"moto_server" in cmdline.read_bytes()
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    """``python -m ray_platform.services.s3 start|stop|status [PORT]`` (see cluster/s3)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("start", "stop", "status"):
        print("usage: s3-server start|stop|status [PORT]", file=sys.stderr)
        return 2
    server = LocalS3Server(port=int(args[1])) if len(args) > 1 else LocalS3Server()
    try:
        if args[0] == "start":
            state = "started" if server.start() else "already running"
            print(f"S3 server {state} on {server.endpoint_url}")
        elif args[0] == "stop":
            print("S3 server stopped" if server.stop() else "S3 server was not running")
        else:
            up = server.running_now()
            print(f"S3 server {'running' if up else 'not running'} on {server.endpoint_url}")
            return 0 if up else 1
    except ServiceError as exc:
        print(f"s3-server: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
