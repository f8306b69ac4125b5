"""``gbank generate``: write a synthetic GlobalBank into the landing zone."""

from __future__ import annotations

import datetime as dt
import re
import time

import typer

from ray_platform.errors import InvalidArgument

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _start_date(text: str) -> dt.date:
    try:
        if _DATE.match(text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidArgument(f"--start-date must be a date as YYYY-MM-DD, got {text!r}")


def generate(
    out: str | None = typer.Option(
        None,
        "--out",
        help="Landing root (file:///path, s3://bucket/prefix or a path); "
        "default: the landing_uri setting.",
    ),
    customers: int = typer.Option(20_000, "--customers", help="Customers in the initial extract."),
    days: int = typer.Option(30, "--days", help="Business days to generate, from the start date."),
    start_date: str = typer.Option(
        "2026-01-05", "--start-date", help="First business date, YYYY-MM-DD."
    ),
    seed: int = typer.Option(42, "--seed", help="Random seed; the same seed gives the same bytes."),
    bad_rate: float = typer.Option(
        0.0, "--bad-rate", help="Share of each file's records that are deliberately bad (0 to 0.5)."
    ),
) -> None:
    """Generate every source system's files (core banking, CDC, cards, trading, market data)."""
    from ray_platform.generator import GeneratorConfig, generate_bank
    from ray_platform.settings import get_settings

    if customers < 1:
        raise InvalidArgument(f"--customers must be at least 1, got {customers}")
    if days < 1:
        raise InvalidArgument(f"--days must be at least 1, got {days}")
    if not 0.0 <= bad_rate <= 0.5:
        raise InvalidArgument(f"--bad-rate must be between 0 and 0.5, got {bad_rate}")
    if seed < 0:
        raise InvalidArgument(f"--seed must not be negative, got {seed}")
    config = GeneratorConfig.checked(
        customers=customers,
        days=days,
        start_date=_start_date(start_date),
        seed=seed,
        bad_rate=bad_rate,
    )
    settings = get_settings()
    started = time.perf_counter()
    report = generate_bank(out or settings.landing_uri, config, settings.s3_endpoint_url)
    elapsed = time.perf_counter() - started
    typer.echo(f"wrote {len(report.files)} files to {report.out_uri} in {elapsed:.1f}s")
    for name, count in report.records.items():
        typer.echo(f"  {name:<26} {count:>10,} records")
    rate = report.fraud_transactions / max(report.card_transactions, 1)
    typer.echo(f"  fraud transactions         {report.fraud_transactions:>10,} ({rate:.2%})")
    typer.echo(
        f"  bad records                {report.bad_records:>10,} (see _manifest/bad_records.jsonl)"
    )
