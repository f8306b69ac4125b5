"""``gbank market``: replay the lake's market-data history to Kafka."""

from __future__ import annotations

import typer

from ray_platform.market_feed import TOPIC, replay

app = typer.Typer(help="Market data on Kafka.", no_args_is_help=True)


@app.command("replay")
def replay_cmd(
    rate: float = typer.Option(1000.0, help="Updates per second; 0 sends as fast as it can."),
    max_updates: int | None = typer.Option(None, "--max", help="Stop after this many updates."),
    duration: float | None = typer.Option(None, help="Stop after this many seconds."),
    loop: bool = typer.Option(False, help="Start the history again when it ends."),
    topic: str = typer.Option(TOPIC, help="Topic to publish to."),
) -> None:
    """Publish prices, FX and rates from the lake's history to market-data at --rate."""
    stats = replay(
        rate or None, max_updates=max_updates, duration_s=duration, loop=loop, topic=topic
    )
    typer.echo(
        f"sent {stats.sent} market-data updates to {topic} in {stats.seconds:.1f} s "
        f"({stats.rate:,.0f}/s; target {f'{rate:,.0f}/s' if rate else 'flat out'})"
    )
