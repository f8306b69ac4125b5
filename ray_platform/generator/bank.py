"""Orchestration: generate every feed day by day and write the run manifest."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ray_platform.errors import InvalidArgument
from ray_platform.generator import cards as cardgen
from ray_platform.generator import customers as custgen
from ray_platform.generator import market as mkt
from ray_platform.generator import reference as ref
from ray_platform.generator import schema as sc
from ray_platform.generator import trading as tr
from ray_platform.generator import transactions as tx
from ray_platform.generator.bad import Injector
from ray_platform.generator.cdc import CustomerState
from ray_platform.generator.core_db import CoreBankingDB
from ray_platform.generator.interactions import day_interactions
from ray_platform.generator.rng import stream
from ray_platform.generator.writer import FeedWriter, WrittenFile, sha256
from ray_platform.storage import storage_for


class GeneratorConfig(BaseModel):
    """What to generate; the same config and seed always give byte-identical files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customers: int = Field(20_000, ge=1, description="Customers in the initial extract.")
    days: int = Field(30, ge=1, le=3660, description="Business days to generate.")
    start_date: dt.date = Field(dt.date(2026, 1, 5), description="First business date.")
    seed: int = Field(42, ge=0, description="Seed of every random stream.")
    bad_rate: float = Field(
        0.0, ge=0.0, le=0.5, description="Share of each file's records that are bad."
    )
    instruments: int = Field(200, ge=10, description="Instruments in the trading system.")
    counterparties: int = Field(40, ge=1, description="Trading counterparties.")
    desks: int = Field(5, ge=1, le=len(ref.DESKS), description="Trading desks.")
    trades_per_day: int | None = Field(
        None, ge=1, description="Trades per trading day; default 5 per instrument."
    )
    history_days: int = Field(
        500, ge=1, description="Business days of market data history before the start date."
    )
    card_txns_per_day: float = Field(
        2.6, gt=0, description="Mean card transactions per active card per day."
    )
    new_customer_rate: float = Field(
        0.0005, ge=0, description="New customers per day, as a share of the initial count."
    )
    change_rate: float = Field(
        0.003, ge=0, description="Customer changes (CDC updates) per customer per day."
    )
    interaction_rate: float = Field(0.02, ge=0, description="Interactions per customer per day.")

    @classmethod
    def checked(cls, **values: Any) -> GeneratorConfig:
        """Build a config, raising :class:`InvalidArgument` with one line when invalid."""
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "config"
            raise InvalidArgument(f"invalid {where}: {first['msg']}") from None


@dataclass
class GenerationReport:
    """What a run wrote."""

    out_uri: str
    files: list[WrittenFile]
    records: dict[str, int]  # good records per file name, over all days
    bad_records: int
    fraud_transactions: int
    fraud_patterns: dict[str, int] = field(default_factory=dict)

    @property
    def card_transactions(self) -> int:
        """Good card transactions written."""
        return self.records.get("card_transactions.jsonl", 0)


def _table(spec: sc.FileSpec, records: list[dict[str, Any]]) -> pa.Table:
    types = [
        pa.field(f.name, pa.int64() if f.type in ("int", "epoch_ms") else pa.string())
        for f in spec.fields
    ]
    return pa.Table.from_pylist(records, schema=pa.schema(types))


def _fmt(values: np.ndarray, dp: int) -> np.ndarray:
    return np.char.mod(f"%.{dp}f", np.round(values, dp) + 0.0)


def _xml_records(spec: sc.FileSpec, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{f.name: r.get(f.name) for f in spec.fields} for r in records]


class _Run:
    def __init__(
        self,
        out_uri: str,
        config: GeneratorConfig,
        s3_endpoint_url: str | None,
        core_db: CoreBankingDB | None = None,
    ):
        self.config = config
        self.core = core_db
        self.seed = config.seed
        self.storage = storage_for(out_uri, s3_endpoint_url)
        self.writer = FeedWriter(self.storage, Injector(config.bad_rate))
        self.records: Counter[str] = Counter()
        self.fraud: Counter[str] = Counter()

    def write(
        self,
        spec: sc.FileSpec,
        day: dt.date,
        table: pa.Table | None = None,
        records: list[dict[str, Any]] | None = None,
    ) -> None:
        ds = day.isoformat()
        if table is None and spec.fmt != "xml" and spec is not sc.CUSTOMER_CHANGES:
            table = _table(spec, records or [])
            records = None
        n = table.num_rows if table is not None else len(records or [])
        self.records[spec.name] += n
        self.writer.write(spec, ds, stream(self.seed, "bad", spec.name, ds), table, records)

    def run(self) -> GenerationReport:
        cfg, seed = self.config, self.seed
        start = cfg.start_date
        days = [start + dt.timedelta(days=k) for k in range(cfg.days)]
        merchants = cardgen.Merchants.build(max(200, cfg.customers // 4), stream(seed, "merchants"))
        state = CustomerState()
        book = tx.CardBook()
        next_c = next_a = next_card = 1
        instruments = tr.make_instruments(cfg.instruments, start, stream(seed, "instruments"))
        cps = tr.make_counterparties(cfg.counterparties, stream(seed, "counterparties"))
        desks = tr.desks_for(cfg.desks)
        history = mkt.business_days_before(start, cfg.history_days)
        trading_days = [d for d in days if d.weekday() < 5]
        market = mkt.simulate(instruments, history + trading_days, start, stream(seed, "market"))
        row_of = {d: k for k, d in enumerate(market.dates)}
        positions = tr.initial_positions(instruments, desks, stream(seed, "positions"))
        schedule: dict[int, list[np.ndarray]] = {}
        for k, day in enumerate(days):
            ds = day.isoformat()
            # core banking: the full extract on the start date, then only new customers
            n_new = (
                cfg.customers
                if k == 0
                else int(
                    stream(seed, "new_customers", ds).poisson(cfg.customers * cfg.new_customer_rate)
                )
            )
            custs: list[dict[str, Any]] = []
            accounts: list[dict[str, Any]] = []
            if n_new:
                rng = stream(seed, "customers", ds)
                custs = custgen.new_customers(next_c, n_new, day, k == 0, rng)
                accounts = custgen.new_accounts(custs, next_a, day, rng)
                next_c += len(custs)
                next_a += len(accounts)
                self.write(sc.CUSTOMERS, day, records=custs)
                self.write(sc.ACCOUNTS, day, records=accounts)
            if k == 0:
                state.add(custs)
                events = state.day_events(day, [], cfg.change_rate, stream(seed, "cdc", ds))
            else:
                events = state.day_events(day, custs, cfg.change_rate, stream(seed, "cdc", ds))
            if self.core is None:
                self.write(sc.CUSTOMER_CHANGES, day, records=events)
            else:  # the changes happen in the database; Debezium is their change feed
                if k == 0:
                    self.core.insert_customers(custs)
                self.core.apply_events(events)  # later days' creates are among the events
                self.core.insert_accounts(accounts)
            # cards
            by_id = {c["customer_id"]: c for c in custs}
            new_cards = cardgen.issue_cards(
                accounts, by_id, next_card, day, stream(seed, "cards", ds)
            )
            next_card += len(new_cards)
            book.add(new_cards, by_id, cfg.card_txns_per_day, stream(seed, "card_activity", ds))
            if new_cards:
                self.write(sc.CARDS, day, records=new_cards)
            self._transactions(k, day, book, merchants, schedule)
            # trading and market data, on weekdays
            if k == 0:
                self.write(sc.INSTRUMENTS, day, records=_xml_records(sc.INSTRUMENTS, instruments))
                self.write(sc.COUNTERPARTIES, day, records=_xml_records(sc.COUNTERPARTIES, cps))
                self._history(day, market, instruments, len(history))
            if day.weekday() < 5:
                row = row_of[day]
                closes = {
                    inst["isin"]: float(market.close[row, i]) for i, inst in enumerate(instruments)
                }
                n_trades = cfg.trades_per_day or 5 * cfg.instruments
                trades = tr.day_trades(
                    day, n_trades, instruments, closes, cps, desks, stream(seed, "trades", ds)
                )
                tr.apply_trades(positions, trades)
                self.write(sc.TRADES, day, records=trades)
                self.write(
                    sc.POSITIONS,
                    day,
                    records=[
                        {"desk": d, "isin": i, "quantity": q, "as_of": ds}
                        for (d, i), q in sorted(positions.items())
                    ],
                )
                self._market_day(day, market, instruments, row)
            inter = day_interactions(
                day, state.current, cfg.interaction_rate, stream(seed, "interactions", ds)
            )
            self.write(sc.INTERACTIONS, day, records=inter)
        return self._finish()

    def _transactions(
        self,
        k: int,
        day: dt.date,
        book: tx.CardBook,
        merchants: cardgen.Merchants,
        schedule: dict[int, list[np.ndarray]],
    ) -> None:
        rng = stream(self.seed, "card_transactions", day.isoformat())
        arrays = book.arrays()
        normal = tx.normal_day(arrays, merchants, day, rng)
        tx.label_normal_looking(normal, rng)
        due = schedule.pop(k, [])
        due_cards = np.concatenate(due) if due else np.zeros(0, dtype=np.int64)
        fraud = tx.fraud_day(normal, arrays, merchants, due_cards, rng)
        hit = tx.compromise(normal, merchants, rng)
        delay = rng.integers(1, 5, size=len(hit))
        for d in np.unique(delay):
            schedule.setdefault(k + int(d), []).append(hit[delay == d])
        table = tx.to_table(tx.Day.concat([normal, fraud]), arrays, merchants, day)
        patterns = table.column("fraud_pattern").drop_null()
        for v in pc.value_counts(patterns).to_pylist():
            self.fraud[v["values"]] += v["counts"]
        self.write(sc.CARD_TRANSACTIONS, day, table=table)

    def _history(
        self, day: dt.date, market: mkt.Market, instruments: list[dict[str, Any]], n_hist: int
    ) -> None:
        dates = np.array([d.isoformat() for d in market.dates[:n_hist]])
        isins = np.array([i["isin"] for i in instruments])
        ccys = np.array([i["currency"] for i in instruments])
        n_i = len(isins)
        self.write(
            sc.PRICES_HISTORY,
            day,
            table=pa.table(
                {
                    "date": np.repeat(dates, n_i),
                    "isin": np.tile(isins, n_hist),
                    "close": _fmt(market.close[:n_hist].ravel(), 6),
                    "currency": np.tile(ccys, n_hist),
                }
            ),
        )
        quotes = np.array(market.fx_ccys)
        self.write(
            sc.FX_HISTORY,
            day,
            table=pa.table(
                {
                    "date": np.repeat(dates, len(quotes)),
                    "base": np.full(n_hist * len(quotes), ref.FX_BASE),
                    "quote": np.tile(quotes, n_hist),
                    "rate": _fmt(market.fx[:n_hist].ravel(), 6),
                }
            ),
        )
        self.write(sc.RATES_HISTORY, day, table=self._rates_table(market, slice(0, n_hist)))

    def _rates_table(self, market: mkt.Market, rows: slice) -> pa.Table:
        dates = np.array([d.isoformat() for d in market.dates[rows]])
        n_c, n_t = len(ref.YIELD_CURRENCIES), len(ref.TENORS)
        return pa.table(
            {
                "date": np.repeat(dates, n_c * n_t),
                "currency": np.tile(np.repeat(ref.YIELD_CURRENCIES, n_t), len(dates)),
                "tenor": np.tile(ref.TENORS, len(dates) * n_c),
                "rate": _fmt(market.rates[rows].ravel(), 4),
            }
        )

    def _market_day(
        self, day: dt.date, market: mkt.Market, instruments: list[dict[str, Any]], row: int
    ) -> None:
        ds = day.isoformat()
        n_i = len(instruments)
        self.write(
            sc.PRICES,
            day,
            table=pa.table(
                {
                    "date": np.full(n_i, ds),
                    "isin": [i["isin"] for i in instruments],
                    "close": _fmt(market.close[row], 6),
                    "currency": [i["currency"] for i in instruments],
                }
            ),
        )
        n_q = len(market.fx_ccys)
        self.write(
            sc.FX_RATES,
            day,
            table=pa.table(
                {
                    "date": np.full(n_q, ds),
                    "base": np.full(n_q, ref.FX_BASE),
                    "quote": list(market.fx_ccys),
                    "rate": _fmt(market.fx[row], 6),
                }
            ),
        )
        self.write(sc.RATES, day, table=self._rates_table(market, slice(row, row + 1)))
        n_u, n_t = len(market.underlyings), len(ref.VOL_TENORS)
        self.write(
            sc.IMPLIED_VOLS,
            day,
            table=pa.table(
                {
                    "date": np.full(n_u * n_t, ds),
                    "underlying_isin": np.repeat(market.underlyings, n_t),
                    "tenor": np.tile(ref.VOL_TENORS, n_u),
                    "vol": _fmt(market.vols[row].ravel(), 4),
                }
            ),
        )
        rows = []
        for region in ref.REGIONS:
            values = mkt.indicator_values(
                region, day, stream(self.seed, "indicators", region, f"{day:%Y-%m}")
            )
            rows += [
                {"date": ds, "region": region, "indicator": name, "value": f"{v:.2f}"}
                for name, v in values.items()
            ]
        self.write(sc.INDICATORS, day, records=rows)

    def _finish(self) -> GenerationReport:
        w = self.writer
        key = lambda e: (e["file"], e.get("line", e.get("element", 0)))  # noqa: E731
        bad = sorted(w.bad_entries, key=key)
        bad_bytes = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in bad).encode()
        with self.storage.open("_manifest/bad_records.jsonl", "wb") as fh:
            fh.write(bad_bytes)
        files = sorted(w.files, key=lambda f: f.path)
        manifest = {
            "generator": "ray_platform.generator",
            "config": self.config.model_dump(mode="json"),
            "seed": self.seed,
            "records": dict(sorted(self.records.items())),
            "bad_records": len(bad),
            "bad_records_sha256": sha256(bad_bytes),
            "fraud_transactions": sum(self.fraud.values()),
            "fraud_patterns": dict(sorted(self.fraud.items())),
            "files": [f.__dict__ for f in files],
        }
        with self.storage.open("_manifest/run.json", "wb") as fh:
            fh.write((json.dumps(manifest, indent=2) + "\n").encode())
        return GenerationReport(
            out_uri=self.storage.uri(),
            files=files,
            records=dict(sorted(self.records.items())),
            bad_records=len(bad),
            fraud_transactions=sum(self.fraud.values()),
            fraud_patterns=dict(sorted(self.fraud.items())),
        )


def generate_bank(
    out_uri: str,
    config: GeneratorConfig | None = None,
    s3_endpoint_url: str | None = None,
    core_db: CoreBankingDB | None = None,
) -> GenerationReport:
    """Write a synthetic GlobalBank's source files under ``out_uri`` (file:// or s3://).

    With ``core_db`` the core banking is a real database: each day's new customers and
    accounts are inserted there and the day's customer changes applied there (the extracts are
    still written), instead of writing ``customer_changes.jsonl`` (see ``generator.core_db``).

    >>> report = generate_bank("/tmp/landing", GeneratorConfig(customers=300, days=3))
    >>> report.bad_records
    0
    """
    return _Run(out_uri, config or GeneratorConfig(), s3_endpoint_url, core_db).run()
