"""Replay the lake's market-data history to the ``market-data`` topic at a set rate.

Updates are read from silver ``prices``, ``fx_rates`` and ``rates`` in date order (all of one
date before the next) and sent as JSON objects, the shapes
:meth:`ray_platform.risk.live_positions.PositionKeeper.apply_market` reads::

    {"type": "price", "date": "2026-01-05", "isin": "...", "price": 101.25, "currency": "USD"}
    {"type": "fx", "date": "2026-01-05", "quote": "USD", "rate": 1.0832}
    {"type": "rate", "date": "2026-01-05", "currency": "EUR", "tenor": "5Y", "rate": 2.41}

Each is keyed by its instrument, currency or curve, so one key's updates stay in order on one
partition. Pacing sends in 10 ms slices (``rate / 100`` updates each) and sleeps off any time a
slice did not use, so a rate the producer can hold is held on average and one it cannot is
reported as the rate reached::

    stats = replay(rate=5_000, max_updates=50_000)  # gbank market replay --rate 5000
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ray_platform.errors import InvalidArgument, NotFound
from ray_platform.lake.layout import silver_table
from ray_platform.settings import Settings, get_settings
from ray_platform.streaming import producer
from ray_platform.tables import table_store

TOPIC = "market-data"
_SLICE_S = 0.01


@dataclass(frozen=True)
class ReplayStats:
    """What one replay sent."""

    sent: int
    seconds: float
    target_rate: float | None

    @property
    def rate(self) -> float:
        """Updates per second reached."""
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def history_updates(settings: Settings | None = None) -> list[tuple[bytes, bytes]]:
    """Every price, FX and rate point of the lake as ``(key, JSON value)``, oldest date first."""
    tables = table_store(settings)
    parts = []
    for name, kind in (("prices", "price"), ("fx_rates", "fx"), ("rates", "rate")):
        table = silver_table(name)
        if not tables.exists(table):
            raise NotFound(f"no {table} in the lake: run `gbank demo` or ingest market data first")
        data = tables.read(table)
        parts.append((kind, data.sort_by("date").to_pylist()))
    by_date: dict[object, list[tuple[bytes, bytes]]] = {}
    for kind, rows in parts:
        for r in rows:
            key, body = _update(kind, r)
            by_date.setdefault(r["date"], []).append((key, json.dumps(body).encode()))
    return [u for d in sorted(by_date) for u in by_date[d]]


def replay(
    rate: float | None,
    *,
    updates: Iterable[tuple[bytes, bytes]] | None = None,
    max_updates: int | None = None,
    duration_s: float | None = None,
    loop: bool = False,
    topic: str = TOPIC,
    settings: Settings | None = None,
) -> ReplayStats:
    """Send updates (the lake's history unless given) at ``rate`` per second (None: flat out).

    Stops after ``max_updates`` or ``duration_s``, or at the end of the history unless ``loop``.
    """
    if rate is not None and rate <= 0:
        raise InvalidArgument(f"rate must be positive, got {rate}")
    s = settings or get_settings()
    source = list(updates) if updates is not None else history_updates(s)
    if not source:
        raise NotFound("no market-data updates to replay")
    stream: Iterator[tuple[bytes, bytes]] = itertools.cycle(source) if loop else iter(source)
    if max_updates is not None:
        stream = itertools.islice(stream, max_updates)
    per_slice = max(1, round(rate * _SLICE_S)) if rate else 2000
    sent = 0
    began = time.monotonic()
    deadline = began + duration_s if duration_s else None
    from ray_platform.services.kafka import KafkaBroker

    KafkaBroker(s).ensure_topics([topic])  # the broker creates none on first use
    with producer(s, acks=1, linger_ms=5, batch_size=256 * 1024) as prod:
        for n_slice in itertools.count(1):
            chunk = list(itertools.islice(stream, per_slice))
            if not chunk:
                break
            for key, value in chunk:
                prod.send(topic, key=key, value=value)  # type: ignore[attr-defined]
            sent += len(chunk)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if rate:
                ahead = began + n_slice * per_slice / rate - now
                if ahead > 0:
                    time.sleep(ahead)
        prod.flush()  # type: ignore[attr-defined]
    return ReplayStats(sent, time.monotonic() - began, rate)


def _update(kind: str, r: dict) -> tuple[bytes, dict]:
    day = r["date"].isoformat()
    if kind == "price":
        body = {"type": "price", "date": day, "isin": r["isin"], "price": float(r["close"])}
        body["currency"] = r.get("currency")
        return r["isin"].encode(), body
    if kind == "fx":
        body = {"type": "fx", "date": day, "quote": r["quote"], "rate": float(r["rate"])}
        return r["quote"].encode(), body
    body = {"type": "rate", "date": day, "currency": r["currency"], "tenor": r["tenor"]}
    body["rate"] = float(r["rate"])
    return f"{r['currency']}:{r['tenor']}".encode(), body
