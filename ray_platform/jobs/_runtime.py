"""What every job does first: join the cluster from a working folder that cannot vanish."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import sys
import time
from collections.abc import Callable

from ray_platform import metrics
from ray_platform.settings import Settings, get_settings

EAGER_IMPORTS = (
    "ray_platform.governance.audit",
    "ray_platform.governance.crypto",
    "ray_platform.governance.kms",
    "ray_platform.lake.pipeline",
)
"""Modules a job imports lazily during its run (see :func:`connect`)."""


def connect(settings: Settings) -> None:
    """Join the Ray cluster named by the settings, working from the platform's home folder.

    On one machine both local Ray nodes share a session folder, so the worker node's runtime
    environment agent can unpack the job's package again over the driver's working directory
    when a task lands there. Imports are unaffected (``sys.path`` holds the path, not the
    folder), but anything that later asks for the current directory (gunicorn does, at import,
    under Feast) would find it gone. Relative project paths are resolved against the package
    (``ray_platform.settings.project_path``), never the current directory. A module first
    imported while that unpacking runs can be missing for a moment (seen as
    ``ModuleNotFoundError: ray_platform.governance.crypto``), so the modules jobs import lazily
    are imported here, before the first task can trigger it.
    """
    import importlib

    import ray

    for module in EAGER_IMPORTS:
        importlib.import_module(module)
    settings.home.mkdir(parents=True, exist_ok=True)
    os.chdir(settings.home)
    ray.init(address=settings.ray_address, log_to_driver=False)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def date_range_parser(prog: str) -> argparse.ArgumentParser:
    """A parser with ``--date`` (first business date) and ``--end`` (last, for a backfill)."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}")
    parser.add_argument("--date", type=_date, required=True, help="business date (first)")
    parser.add_argument("--end", type=_date, help="last business date of a backfill")
    return parser


def add_source_args(parser: argparse.ArgumentParser) -> None:
    """``--topic`` (repeatable), ``--no-kafka`` and ``--cdc``: what a lake run lands.

    Read them back with :func:`kafka_topics`.
    """
    from ray_platform.contracts.silver import CARD_TRANSACTIONS

    topics = ", ".join(CARD_TRANSACTIONS.stream_topics)
    parser.add_argument(
        "--topic", action="append", dest="topics", metavar="TOPIC",
        help=f"a Kafka topic of card transactions to land (repeatable; default: {topics})",
    )  # fmt: skip
    parser.add_argument("--no-kafka", action="store_true", help="land no Kafka topic")
    parser.add_argument(
        "--cdc", action="store_true",
        help="also land the core-banking database's Debezium topics and apply them in silver",
    )  # fmt: skip


def kafka_topics(args: argparse.Namespace) -> tuple[str, ...]:
    """The card-transaction topics a run lands, from :func:`add_source_args`' arguments."""
    from ray_platform.contracts.silver import CARD_TRANSACTIONS

    if args.no_kafka:
        return ()
    return tuple(args.topics or CARD_TRANSACTIONS.stream_topics)


def parse_date_range(
    parser: argparse.ArgumentParser, argv: list[str] | None = None
) -> tuple[argparse.Namespace, list[dt.date]]:
    """Parsed arguments and every date from ``--date`` to ``--end`` (inclusive)."""
    args = parser.parse_args(argv)
    last = args.end or args.date
    if last < args.date:
        parser.error("--end must not be before --date")
    return args, [args.date + dt.timedelta(days=i) for i in range((last - args.date).days + 1)]


def run_job(
    job: str, main: Callable[[list[str] | None], int | None], argv: list[str] | None = None
) -> int:
    """Run a job's ``main`` and append its run to the audit trail; returns the exit code.

    A job module ends with ``sys.exit(run_job("lake_etl", main))``. One ``job_run`` record per
    run, written when it ends however it ends (a return code, ``sys.exit``, an exception, Ctrl-C),
    with the arguments, exit code, error and duration; the exception is re-raised after. The
    run's duration and outcome are also the job's ``gbank_job_last_*`` metrics.
    """
    from ray_platform.governance.audit import audit_trail

    args = list(sys.argv[1:] if argv is None else argv)
    started, code, error = time.monotonic(), 1, None
    try:
        rv = main(argv)
        code = rv if isinstance(rv, int) else 0
        return code
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        error = None if code == 0 else f"exit {exc.code}"
        raise
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        settings = get_settings()
        ok = code == 0 and error is None  # last-run gauges, pushed or written (metrics.flush)
        metrics.record_job(job, ok, time.monotonic() - started, settings.home)
        audit_trail(settings).append(
            "job_run",
            actor=settings.user,
            role=settings.role,
            outcome="ok" if code == 0 and error is None else "failed",
            job=job,
            args=args,
            exit_code=code,
            error=error,
            duration_s=round(time.monotonic() - started, 3),
            host=socket.gethostname(),
            pid=os.getpid(),
        )
