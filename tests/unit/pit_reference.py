"""An independent point-in-time join: the oracle Feast's historical retrieval is tested against."""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.views import build_definitions
from ray_platform.settings import Settings, get_settings


def _ttl_seconds(view: Any) -> float | None:
    ttl = view.ttl
    return ttl.total_seconds() if ttl and ttl.total_seconds() > 0 else None


def point_in_time_join(entity_df: pd.DataFrame, settings: Settings | None = None) -> pd.DataFrame:
    """Feast's point-in-time join re-derived independently, as DuckDB ASOF JOINs.

    For each entity row and each feature view: the latest feature row with the same keys whose
    ``event_timestamp`` is at or before the row's, and no older than the view's TTL, else NULL;
    then the on-demand features. The tests compare Feast's historical retrieval with this,
    value for value, so a Feast upgrade or a view definition that changes the join shows up.
    """
    import duckdb

    from features.views import transaction_context

    s = settings or get_settings()
    objects = build_definitions(s)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET threads = 1")
    base = entity_df.reset_index(drop=True).copy()
    base["_row"] = range(len(base))
    con.register("entities", base)
    select, joins = ["e.*"], []
    for i, name in enumerate(
        ("customer_spend", "card_velocity", "merchant_risk", "customer_profile",
         "customer_merchant", "card_device")
    ):  # fmt: skip
        view = objects[name]
        keys = [objects[e].join_key for e in view.entities]
        path = view.batch_source.path  # a glob over the date partitions
        con.execute(
            f"CREATE TEMP VIEW v{i} AS SELECT * EXCLUDE (date) FROM "
            f"read_parquet('{path}', hive_partitioning = true)"
        )
        on = " AND ".join(f"e.{k} = v{i}.{k}" for k in keys)
        joins.append(f"ASOF LEFT JOIN v{i} ON {on} AND e.event_timestamp >= v{i}.event_timestamp")
        ttl = _ttl_seconds(view)
        for f in view.features:
            col = f"v{i}.{f.name}"
            if ttl is not None:
                col = (
                    f"CASE WHEN v{i}.event_timestamp >= e.event_timestamp - "
                    f"INTERVAL {int(ttl)} SECOND THEN {col} END"
                )
            select.append(f"{col} AS {f.name}")
    sql = f"SELECT {', '.join(select)} FROM entities e {' '.join(joins)} ORDER BY e._row"
    joined = con.execute(sql).df()
    con.close()
    context = transaction_context(joined)
    out = pd.concat([joined.drop(columns=["_row"]), context], axis=1)
    out["event_timestamp"] = pd.to_datetime(out["event_timestamp"], utc=True)
    return out
