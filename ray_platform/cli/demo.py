"""``gbank demo``: run the main job on the embedded defaults."""

from __future__ import annotations

from datetime import datetime

import typer

from ray_platform.demo import DemoOptions, run_demo
from ray_platform.errors import InvalidArgument


def demo(
    customers: int = typer.Option(20_000, min=1, help="Customers in the generated bank."),
    days: int = typer.Option(30, min=1, help="Business days of activity to generate."),
    start_date: str = typer.Option("2026-01-05", help="First business date (YYYY-MM-DD)."),
    seed: int = typer.Option(42, help="Seed of the generator; same seed, same data."),
    bad_rate: float = typer.Option(0.01, min=0.0, max=0.5, help="Share of invalid records."),
) -> None:
    """Start Kafka and Ray, generate a bank and run every pipeline that exists so far."""
    try:
        start = datetime.strptime(start_date, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidArgument(f"--start-date must be YYYY-MM-DD, got {start_date!r}") from None
    options = DemoOptions(
        customers=customers, days=days, start_date=start, seed=seed, bad_rate=bad_rate
    )
    run_demo(options, echo=typer.echo)
