"""Feature tables computed from silver, every row stamped with the time it became true.

Each table is a point-in-time history: a row says "as of ``event_timestamp`` this entity's
features were these values". Feast's historical retrieval joins, for each label, the latest row
stamped at or before the label's time, so a table must never hold a row stamped earlier than
the information it carries.

- ``customer_spend`` (customer): per transaction, the customer's count, sum, mean and standard
  deviation of ``amount_reporting`` over the trailing 1 h, 24 h, 7 d and 30 d, the transaction
  itself included, stamped at the transaction's time.
- ``card_velocity`` (card): per transaction, the card's counts over 10 min, 1 h and 24 h, its 1 h
  amount and its 1 h e-commerce count.
- ``customer_merchant`` (customer, merchant) and ``card_device`` (card, device): how often the
  pair was seen in the trailing 30 days; a missing pair means a new merchant or a new device.
- ``merchant_risk`` (merchant): a smoothed fraud-rate prior per merchant. Labels arrive late
  (chargebacks), so the row for day ``d``'s labels is stamped ``LABEL_DELAY_DAYS`` after the
  end of ``d``.
- ``customer_profile`` (customer): home country, segment, KYC rating and first account opening
  day, stamped when the customer was created.

The SQL runs in DuckDB (window frames over time ranges, which Ray Data's group-by lacks); the
features job runs it inside a Ray task. Tables are written as Parquet, one file per business
date (``<lake>/features/<table>/date=YYYY-MM-DD/part-0.parquet``), replaced atomically, which is
what Feast's file offline store reads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ray_platform.settings import Settings, get_settings
from ray_platform.storage import storage_for
from ray_platform.tables import TableStore, table_store

FEATURES_DIR = "features"
LOOKBACK_DAYS = 30
"""History a day's features need: the longest window."""
LABEL_DELAY_DAYS = 1
"""Days after a transaction's day before its fraud label may be used by a feature."""
PRIOR_STRENGTH = 200.0
"""Pseudo-transactions at the global fraud rate added to each merchant's own history."""

WINDOWS = {"1h": "1 HOUR", "24h": "24 HOURS", "7d": "7 DAYS", "30d": "30 DAYS"}
SEGMENT_CODES = {"retail": 0, "premier": 1, "private": 2, "sme": 3, "corporate": 4}
KYC_SCORES = {"low": 0, "medium": 1, "high": 2}

_SPEND = ",\n".join(
    f"count(*) OVER w{k} AS cust_txn_count_{k}, "
    f"sum(amt) OVER w{k} AS cust_amount_sum_{k}, "
    f"avg(amt) OVER w{k} AS cust_amount_mean_{k}, "
    f"coalesce(stddev_samp(amt) OVER w{k}, 0.0) AS cust_amount_std_{k}"
    for k in WINDOWS
)
_SPEND_WINDOWS = ", ".join(
    f"w{k} AS (PARTITION BY customer_id ORDER BY ts RANGE BETWEEN INTERVAL {v} PRECEDING "
    "AND CURRENT ROW)"
    for k, v in WINDOWS.items()
)

SQL = {
    "customer_spend": f"""
        SELECT customer_id, ts AS event_timestamp, day AS date, {_SPEND}
        FROM txns WINDOW {_SPEND_WINDOWS}""",
    "card_velocity": """
        SELECT card_id, ts AS event_timestamp, day AS date,
          count(*) OVER w10m AS card_txn_count_10m,
          count(*) OVER w1h AS card_txn_count_1h,
          sum(amt) OVER w1h AS card_amount_sum_1h,
          sum(CASE WHEN channel = 'ecom' THEN 1 ELSE 0 END) OVER w1h AS card_ecom_count_1h,
          count(*) OVER w24h AS card_txn_count_24h
        FROM txns WINDOW
          w10m AS (PARTITION BY card_id ORDER BY ts
                   RANGE BETWEEN INTERVAL 10 MINUTES PRECEDING AND CURRENT ROW),
          w1h AS (PARTITION BY card_id ORDER BY ts
                  RANGE BETWEEN INTERVAL 1 HOUR PRECEDING AND CURRENT ROW),
          w24h AS (PARTITION BY card_id ORDER BY ts
                   RANGE BETWEEN INTERVAL 24 HOURS PRECEDING AND CURRENT ROW)""",
    "customer_merchant": """
        SELECT customer_id, merchant_id, ts AS event_timestamp, day AS date,
          count(*) OVER (PARTITION BY customer_id, merchant_id ORDER BY ts
                         RANGE BETWEEN INTERVAL 30 DAYS PRECEDING AND CURRENT ROW) AS cm_txn_count
        FROM txns""",
    "card_device": """
        SELECT card_id, device_id, ts AS event_timestamp, day AS date,
          count(*) OVER (PARTITION BY card_id, device_id ORDER BY ts
                         RANGE BETWEEN INTERVAL 30 DAYS PRECEDING AND CURRENT ROW) AS cd_txn_count
        FROM txns""",
}

MERCHANT_SQL = f"""
    WITH daily AS (
      SELECT merchant_id, day, count(*) AS n, sum(is_fraud) AS f FROM labelled GROUP BY ALL
    ), cum AS (
      SELECT merchant_id, day,
        sum(n) OVER (PARTITION BY merchant_id ORDER BY day) AS n,
        sum(f) OVER (PARTITION BY merchant_id ORDER BY day) AS f
      FROM daily
    ), overall AS (
      SELECT day, sum(sum(f)) OVER (ORDER BY day) / sum(sum(n)) OVER (ORDER BY day) AS p
      FROM daily GROUP BY day
    )
    SELECT c.merchant_id,
      (c.day + INTERVAL {1 + LABEL_DELAY_DAYS} DAY)::TIMESTAMPTZ AS event_timestamp,
      (c.day + INTERVAL {1 + LABEL_DELAY_DAYS} DAY)::DATE AS date,
      ((c.f + {PRIOR_STRENGTH} * g.p) / (c.n + {PRIOR_STRENGTH}))::DOUBLE AS merchant_fraud_rate,
      c.n::BIGINT AS merchant_txn_count
    FROM cum c JOIN overall g USING (day)"""

PROFILE_SQL = f"""
    WITH opened AS (
      SELECT customer_id, min(open_date) AS first_open FROM accounts GROUP BY customer_id
    )
    SELECT c.customer_id,
      coalesce(c.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS event_timestamp,
      coalesce(c.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')::DATE AS date,
      c.country AS home_country,
      CASE c.segment {" ".join(f"WHEN '{k}' THEN {v}" for k, v in SEGMENT_CODES.items())}
        ELSE -1 END::BIGINT AS segment_code,
      CASE c.kyc_risk_rating {" ".join(f"WHEN '{k}' THEN {v}" for k, v in KYC_SCORES.items())}
        ELSE -1 END::BIGINT AS kyc_risk_score,
      coalesce(date_diff('day', DATE '1970-01-01', o.first_open),
               date_diff('day', DATE '1970-01-01', c.created_at::DATE))::BIGINT AS first_open_day
    FROM customers c LEFT JOIN opened o USING (customer_id)"""

FEATURE_TABLES: tuple[str, ...] = (*SQL, "merchant_risk", "customer_profile")
"""Every feature table, in the order the job writes them."""


@dataclass
class FeatureRun:
    """What one computation wrote: rows per table and the silver versions it read."""

    start: dt.date
    end: dt.date
    rows: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """JSON-ready headline."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "inputs": self.inputs,
        }


def feature_uri(name: str, settings: Settings | None = None) -> str:
    """The folder of feature table ``name`` (what a Feast ``FileSource`` points at)."""
    s = settings or get_settings()
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    rel = f"{FEATURES_DIR}/{name}"
    # Feast resolves a scheme-less path against its repo; a local lake is given as a plain path.
    return storage.path(rel) if s.lake_uri.startswith("file://") else storage.uri(rel)


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def read_transactions(
    store: TableStore, start: dt.datetime, end: dt.datetime, *, version: int | None = None
) -> pa.Table:
    """Silver card transactions with ``start <= timestamp < end``, in the columns features use."""
    cols = [
        "transaction_id", "customer_id", "card_id", "merchant_id", "merchant_country", "mcc",
        "amount_reporting", "timestamp", "channel", "device_id", "ip_country", "is_fraud",
    ]  # fmt: skip
    ds = store.dataset("silver/card_transactions", version)
    ts = pads.field("timestamp")
    return ds.to_table(columns=cols, filter=(ts >= pa.scalar(start)) & (ts < pa.scalar(end)))


def compute_features(
    txns: pa.Table, customers: pa.Table, accounts: pa.Table, start: dt.date, end: dt.date
) -> dict[str, pa.Table]:
    """Every feature table's rows for business dates ``start..end`` (inclusive).

    ``txns`` must hold the ``LOOKBACK_DAYS`` before ``start`` too, so windows are complete; the
    rows returned are only those stamped within the dates.
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET threads = 1")
    con.register("raw", txns)
    con.execute(
        """CREATE TEMP TABLE txns AS SELECT *, amount_reporting::DOUBLE AS amt,
           "timestamp" AS ts, "timestamp"::DATE AS day FROM raw"""
    )
    con.register("customers", customers)
    con.register("accounts", accounts)
    lo, hi = start.isoformat(), end.isoformat()
    out: dict[str, pa.Table] = {}
    for name, sql in SQL.items():
        out[name] = con.execute(
            f"SELECT * FROM ({sql}) WHERE date BETWEEN DATE '{lo}' AND DATE '{hi}' "
            "ORDER BY event_timestamp"
        ).to_arrow_table()
    con.execute(
        f"""CREATE TEMP TABLE labelled AS SELECT merchant_id, day, is_fraud FROM txns
            WHERE day <= DATE '{hi}' - INTERVAL {1 + LABEL_DELAY_DAYS} DAY"""
    )
    out["merchant_risk"] = con.execute(
        f"SELECT * FROM ({MERCHANT_SQL}) WHERE date BETWEEN DATE '{lo}' AND DATE '{hi}'"
    ).to_arrow_table()
    out["customer_profile"] = con.execute(PROFILE_SQL).to_arrow_table()
    con.close()
    return out


def _dates(table: pa.Table) -> Iterable[dt.date]:
    return sorted(set(table["date"].to_pylist()))


def write_feature_table(name: str, table: pa.Table, settings: Settings | None = None) -> int:
    """Replace each business date of ``table`` in feature table ``name``; returns rows written.

    ``customer_profile`` is a snapshot: it is rewritten whole, as one file.
    """
    s = settings or get_settings()
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    fs, root = storage.pyarrow_fs(), storage.path(f"{FEATURES_DIR}/{name}")
    fs.create_dir(root, recursive=True)
    groups: list[tuple[str, pa.Table]]
    if name == "customer_profile":
        groups = [("snapshot", table)]
    else:
        groups = [
            (d.isoformat(), table.filter(pc.equal(table["date"], pa.scalar(d))))
            for d in _dates(table)
        ]
    for key, part in groups:
        folder = f"{root}/date={key}"
        fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.part-0.parquet.tmp"
        pq.write_table(part.drop_columns(["date"]), tmp, filesystem=fs, compression="zstd")
        fs.move(tmp, f"{folder}/part-0.parquet")
    return table.num_rows


def run_features(
    start: dt.date, end: dt.date, settings: Settings | None = None
) -> tuple[FeatureRun, dict[str, pa.Table]]:
    """Compute and write every feature table for ``start..end`` from the lake's silver tables."""
    s = settings or get_settings()
    store = table_store(s)
    run = FeatureRun(start, end)
    for t in ("card_transactions", "customers", "accounts"):
        run.inputs[f"silver/{t}"] = store.version(f"silver/{t}")
    txns = read_transactions(
        store,
        _utc(start - dt.timedelta(days=LOOKBACK_DAYS)),
        _utc(end + dt.timedelta(days=1)),
        version=run.inputs["silver/card_transactions"],
    )
    customers = store.read(
        "silver/customers",
        columns=["customer_id", "country", "segment", "kyc_risk_rating", "created_at"],
    )
    accounts = store.read("silver/accounts", columns=["customer_id", "open_date"])
    tables = compute_features(txns, customers, accounts, start, end)
    for name, table in tables.items():
        run.rows[name] = write_feature_table(name, table, s)
    _write_manifest(run, s)
    return run, tables


def _write_manifest(run: FeatureRun, settings: Settings) -> None:
    """Append the run to ``features/_manifest.jsonl``: which silver versions built which days."""
    storage = storage_for(settings.lake_uri, settings.s3_endpoint_url)
    fs, path = storage.pyarrow_fs(), storage.path(f"{FEATURES_DIR}/_manifest.jsonl")
    old = b""
    if fs.get_file_info(path).type.name == "File":
        with fs.open_input_stream(path) as f:
            old = f.read()
    line = json.dumps(run.summary() | {"written_at": dt.datetime.now(dt.UTC).isoformat()})
    with fs.open_output_stream(path) as f:
        f.write(old + line.encode() + b"\n")


def feature_versions(settings: Settings | None = None) -> list[dict[str, object]]:
    """Every features run recorded in the manifest (what training logs as data versions)."""
    s = settings or get_settings()
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    fs, path = storage.pyarrow_fs(), storage.path(f"{FEATURES_DIR}/_manifest.jsonl")
    if fs.get_file_info(path).type.name != "File":
        return []
    with fs.open_input_stream(path) as f:
        return [json.loads(ln) for ln in f.read().decode().splitlines() if ln.strip()]
