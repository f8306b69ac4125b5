"""Loading the dimensions: calendars once, type 1 dimensions by upsert, SCD2 chains by rebuild.

Every function returns a :class:`DimResult` and writes at most one Delta commit, none when the
rows it would write are already there, so reruns leave the table versions unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.dataset as pads

from ray_platform.generator.reference import COUNTRIES, MCCS
from ray_platform.lake import layout
from ray_platform.lineage import DatasetRef
from ray_platform.tables import TableStore
from ray_platform.warehouse import dates, scd2
from ray_platform.warehouse import model as m
from ray_platform.warehouse._io import arrow, day_filter, rows_in, same_rows, sql_list

_EPOCH = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


@dataclass
class DimResult:
    """What a load did to one table."""

    table: str
    rows: int = 0  # rows written by this load
    version: int | None = None  # new version, None when nothing was written
    inputs: tuple[DatasetRef, ...] = field(default_factory=tuple)


@dataclass
class Silver:
    """Silver tables pinned at the version a load reads."""

    store: TableStore
    refs: dict[str, DatasetRef] = field(default_factory=dict)
    datasets: dict[str, pads.Dataset] = field(default_factory=dict)

    def get(self, name: str) -> pads.Dataset | None:
        """Silver table ``name`` at its pinned version (pinned on first use)."""
        if name not in self.datasets:
            path = layout.silver_table(name)
            if not self.store.exists(path):
                return None
            version = self.store.version(path)
            self.datasets[name] = self.store.dataset(path, version)
            self.refs[name] = DatasetRef(path, version)
        return self.datasets[name]

    def ref(self, *names: str) -> tuple[DatasetRef, ...]:
        """The pinned references of ``names`` that exist."""
        return tuple(self.refs[n] for n in names if n in self.refs)


def _unknown(spec: m.TableSpec) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(spec.schema.names)
    row[spec.columns[0].name] = m.UNKNOWN_KEY
    for c in spec.columns[1:3]:
        if c.type == pa.string() and not c.name.endswith("_id"):
            row[c.name] = "UNKNOWN"
    if "valid_from" in row:
        row.update(valid_from=_EPOCH, valid_to=m.OPEN_END, is_current=True)
    if "level" in row:
        row["level"] = "unknown"
    if "change_op" in row:
        row["change_op"] = "unknown"
    return row


def load_calendars(store: TableStore) -> list[DimResult]:
    """Write ``dim_date`` and ``dim_business_calendar`` if they do not exist yet."""
    out = []
    for spec, build in (
        (m.DIM_DATE, dates.dim_date),
        (m.DIM_BUSINESS_CALENDAR, dates.business_calendar),
    ):
        if store.exists(spec.path):
            continue
        data = build()
        out.append(DimResult(spec.name, data.num_rows, store.write(spec.path, data)))
    return out


def upsert_type1(
    store: TableStore,
    spec: m.TableSpec,
    rows: list[dict[str, object]],
    inputs: tuple[DatasetRef, ...],
) -> DimResult:
    """Insert new and update changed members of a type 1 dimension (one merge, or nothing)."""
    import duckdb

    key = spec.columns[0].name
    result = DimResult(spec.name, inputs=inputs)
    new = pa.Table.from_pylist(rows, schema=spec.schema)
    if not store.exists(spec.path):
        data = pa.concat_tables([pa.Table.from_pylist([_unknown(spec)], schema=spec.schema), new])
        result.rows, result.version = data.num_rows, store.write(spec.path, data)
        return result
    con = duckdb.connect()
    try:
        con.register("new", new)
        con.register("old", store.read(spec.path))
        changed = arrow(con, "FROM new EXCEPT FROM old ORDER BY 1")
    finally:
        con.close()
    if changed.num_rows:
        changed = m.conform(changed, spec)
        result.rows, result.version = changed.num_rows, store.merge(spec.path, changed, [key])
    return result


def load_type1(store: TableStore, silver: Silver, days: list[dt.date]) -> list[DimResult]:
    """Geography, product, merchant, instrument and counterparty dimensions."""
    out = []
    # geography: every country, plus every branch seen in the days' interactions
    geo = [
        {
            "geography_key": m.surrogate_key(c.code, None),
            "country": c.code,
            "region": c.region,
            "currency": c.currency,
            "utc_offset_min": c.utc_offset_min,
            "branch_id": None,
            "level": "country",
        }
        for c in COUNTRIES
    ]
    by_code = {c.code: c for c in COUNTRIES}
    inter = silver.get("interactions")
    if inter is not None:
        for day in days:
            branches = inter.to_table(columns=["branch_id"], filter=day_filter(day))
            for b in sorted({b for b in branches.column("branch_id").to_pylist() if b}):
                c = by_code.get(b[2:4])
                geo.append(
                    {
                        "geography_key": m.surrogate_key(b[2:4], b),
                        "country": b[2:4],
                        "region": c.region if c else None,
                        "currency": c.currency if c else None,
                        "utc_offset_min": c.utc_offset_min if c else None,
                        "branch_id": b,
                        "level": "branch",
                    }
                )
    geo = list({r["geography_key"]: r for r in geo}.values())
    out.append(upsert_type1(store, m.DIM_GEOGRAPHY, geo, silver.ref("interactions")))

    if (acc := silver.get("accounts")) is not None:
        pairs = (
            acc.to_table(columns=["product_code", "account_type"])
            .group_by(["product_code", "account_type"])
            .aggregate([])
        )
        rows = [
            {
                "product_key": m.surrogate_key(p["product_code"]),
                "product_code": p["product_code"],
                "product_family": p["account_type"],
                "product_tier": p["product_code"].split("-", 1)[-1],
            }
            for p in sorted(pairs.to_pylist(), key=lambda r: r["product_code"])
        ]
        out.append(upsert_type1(store, m.DIM_PRODUCT, rows, silver.ref("accounts")))

    if (tx := silver.get("card_transactions")) is not None:
        mcc = {x.code: x for x in MCCS}
        latest: dict[str, dict[str, object]] = {}
        cols = ["merchant_id", "merchant_name", "mcc", "merchant_country", "timestamp"]
        for day in days:
            t = tx.to_table(columns=cols, filter=day_filter(day)).sort_by("timestamp")
            for r in t.to_pylist():
                latest[r["merchant_id"]] = r
        rows = [
            {
                "merchant_key": m.surrogate_key(mid),
                "merchant_id": mid,
                "merchant_name": r["merchant_name"],
                "mcc": r["mcc"],
                "mcc_name": mcc[r["mcc"]].name if r["mcc"] in mcc else None,
                "risky_mcc": mcc[r["mcc"]].risky if r["mcc"] in mcc else None,
                "merchant_country": r["merchant_country"],
            }
            for mid, r in sorted(latest.items())
        ]
        out.append(upsert_type1(store, m.DIM_MERCHANT, rows, silver.ref("card_transactions")))

    if (ins := silver.get("instruments")) is not None:
        cols = [c.name for c in m.DIM_INSTRUMENT.columns[1:]]
        rows = [
            {"instrument_key": m.surrogate_key(r["isin"]), **r}
            for r in ins.to_table(columns=cols).sort_by("isin").to_pylist()
        ]
        out.append(upsert_type1(store, m.DIM_INSTRUMENT, rows, silver.ref("instruments")))
    if (cps := silver.get("counterparties")) is not None:
        cols = [c.name for c in m.DIM_COUNTERPARTY.columns[1:]]
        rows = [
            {"counterparty_key": m.surrogate_key(r["lei"]), **r}
            for r in cps.to_table(columns=cols).sort_by("lei").to_pylist()
        ]
        out.append(upsert_type1(store, m.DIM_COUNTERPARTY, rows, silver.ref("counterparties")))
    return out


def _first_version(store: TableStore, path: str) -> int:
    from deltalake import DeltaTable

    table = DeltaTable(store.uri(path), storage_options=store.storage.storage_options())
    return min(int(h["version"]) for h in table.history())


def load_dim_customer(store: TableStore, silver: Silver, days: list[dt.date]) -> DimResult:
    """Rebuild the version chains of customers with change events on ``days`` (or missing)."""
    spec, result = m.DIM_CUSTOMER, DimResult(m.DIM_CUSTOMER.name)
    changes, customers = silver.get("customer_changes"), silver.get("customers")
    if customers is None:
        return result
    path = layout.silver_table("customers")
    first = _first_version(store, path)
    snapshot_ds = store.dataset(path, first)
    result.inputs = (*silver.ref("customers", "customer_changes"), DatasetRef(path, first))
    current_ids = set(customers.to_table(columns=["customer_id"]).column(0).to_pylist())
    exists = store.exists(spec.path)
    if exists:
        known = set(store.read(spec.path, columns=["customer_id"]).column(0).to_pylist())
        affected = current_ids - known
        if changes is not None:
            for day in days:
                ids = changes.to_table(columns=["customer_id"], filter=day_filter(day))
                affected |= set(ids.column(0).to_pylist())
    else:
        affected = current_ids | set(
            snapshot_ds.to_table(columns=["customer_id"]).column(0).to_pylist()
        )
        if changes is not None:
            affected |= set(changes.to_table(columns=["customer_id"]).column(0).to_pylist())
    affected.discard(None)
    if not affected:
        return result
    snap = {r["customer_id"]: r for r in rows_in(snapshot_ds, "customer_id", affected).to_pylist()}
    cur = {r["customer_id"]: r for r in rows_in(customers, "customer_id", affected).to_pylist()}
    events: dict[str, list[dict[str, object]]] = defaultdict(list)
    if changes is not None:
        evs = rows_in(changes, "customer_id", affected).sort_by(
            [
                ("event_ts", "ascending"),
                ("_ingest_date", "ascending"),
                ("_source_record", "ascending"),
            ]
        )
        for e in evs.to_pylist():
            events[e["customer_id"]].append(e)
    rows = [
        v
        for cid in sorted(affected)
        for v in scd2.customer_chain(cid, snap.get(cid), events[cid], cur.get(cid))
    ]
    data = pa.Table.from_pylist(rows, schema=spec.schema)
    if not exists:
        data = pa.concat_tables([pa.Table.from_pylist([_unknown(spec)], schema=spec.schema), data])
        result.rows, result.version = data.num_rows, store.write(spec.path, data)
        return result
    old = m.conform(rows_in(store.dataset(spec.path), "customer_id", affected), spec)
    if same_rows(old, data):
        return result
    result.rows = data.num_rows
    result.version = store.write(
        spec.path,
        data,
        mode="overwrite",
        predicate=f"customer_id IN ({sql_list(sorted(affected))})",
    )
    return result


def load_dim_account(
    store: TableStore, silver: Silver, day: dt.date, days: list[dt.date] | None = None
) -> DimResult:
    """Versions from ``days``' account change events, then from the ``silver/accounts`` snapshot.

    ``days`` (default: ``day``) are the event dates to read, the load's look-back window.
    """
    spec, result = m.DIM_ACCOUNT, DimResult(m.DIM_ACCOUNT.name)
    accounts, changes = silver.get("accounts"), silver.get("account_changes")
    if accounts is None and changes is None:
        return result
    result.inputs = silver.ref("accounts", "account_changes")
    exists = store.exists(spec.path)
    latest: dict[str, dict[str, object]] = {}
    if exists:
        for r in store.dataset(spec.path).to_table().sort_by("valid_from").to_pylist():
            if r["account_id"] is not None:
                latest[r["account_id"]] = r  # sorted, so the newest version wins
    as_of = dt.datetime.combine(day, dt.time(), dt.UTC)
    rows: list[dict[str, object]] = []
    if changes is not None:
        events: dict[str, list[dict[str, object]]] = defaultdict(list)
        for d in days or [day]:
            for e in changes.to_table(filter=day_filter(d)).to_pylist():
                events[e["account_id"]].append(e)
        # An account the dimension has not seen starts, as dim_customer does, from its row in the
        # first extract (valid from its open date), so its events close that version, not lose it.
        extract: dict[str, dict[str, object]] = {}
        if accounts is not None and (new := set(events) - set(latest)):
            path = layout.silver_table("accounts")
            first = store.dataset(path, _first_version(store, path))
            extract = {r["account_id"]: r for r in rows_in(first, "account_id", new).to_pylist()}
        for aid, evs in sorted(events.items()):
            evs.sort(key=lambda e: (e["event_ts"], e["_ingest_date"], e["_source_record"]))
            start = latest.get(aid)
            if start is None and aid in extract:
                start = scd2.account_changes({}, [extract[aid]], as_of)[0][0]
                rows.append(start)
            written = scd2.account_events(start, evs)
            rows += written
            if newest := written[-1] if written else start:
                latest[aid] = newest
    if accounts is not None:
        # A deleted account (versions, none current) stays closed until an event reopens it.
        current = {a: r for a, r in latest.items() if r["is_current"]}
        deleted = {a for a, r in latest.items() if not r["is_current"]}
        snapshot = [r for r in accounts.to_table().to_pylist() if r["account_id"] not in deleted]
        diffed, _ = scd2.account_changes(current, snapshot, as_of)
        rows += diffed
    if not rows:
        return result
    rows = list({r["account_sk"]: r for r in rows}.values())  # an extract row its events closed
    data = pa.Table.from_pylist(rows, schema=spec.schema)
    if not exists:
        data = pa.concat_tables([pa.Table.from_pylist([_unknown(spec)], schema=spec.schema), data])
        result.rows, result.version = data.num_rows, store.write(spec.path, data)
    else:
        result.rows, result.version = data.num_rows, store.merge(spec.path, data, ["account_sk"])
    return result
