"""The DuckDB peer of the ETL benchmark: the card-transaction silver transform as one SQL script.

What a user might write instead of the Ray Data pipeline: read the bronze JSON-lines files,
apply the same contract rules (generated from the same :class:`TableContract`, so the regexes,
enumerations and limits are identical), quarantine the failures, type and standardise the good
rows (UTC timestamps, decimals, minor units, reporting amount through an as-of FX join,
partitions, payload hash, lineage columns) and write partitioned zstd Parquet. Then the gold
aggregates: the very queries of :mod:`ray_platform.lake.gold`, over the peer's Parquet.

Simplifications, stated so the comparison stays honest: foreign keys are checked against the
reference silver tables as they stand after the last day (the Ray pipeline checks each day
against silver as of that day); there is no redelivery lookup against earlier runs (the lake
starts empty) and no Delta log; card transactions have no PII column, so nothing is tokenised.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from ray_platform.contracts.model import Column, TableContract
from ray_platform.contracts.reference import FX_BASES
from ray_platform.lake import standardise as st
from ray_platform.lake.gold import FEATURE_WINDOW_DAYS, GOLD_TABLES


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rules(c: TableContract) -> str:
    """The first failing rule per record, as one CASE over the text columns (contract order)."""
    arms = []
    for col in c.columns:
        v = f'"{col.name}"'
        if col.required:
            arms.append((f"{v} IS NULL", "missing_required", col))
        arms.append((f"{v} IS NOT NULL AND NOT ({_type_ok(col, v)})", "wrong_type", col))
        if col.values:
            rule = "invalid_currency" if col.type == "currency" else "invalid_enum"
            values = ", ".join(_lit(x) for x in col.values)
            arms.append((f"{v} NOT IN ({values})", rule, col))
        if col.check:
            raise NotImplementedError("check digits are not needed for card transactions")
        if col.min is not None:
            arms.append((f"TRY_CAST({v} AS DOUBLE) < {col.min}", "negative_amount", col))
        if col.max is not None:
            arms.append((f"TRY_CAST({v} AS DOUBLE) > {col.max}", "absurd_amount", col))
        if col.not_future and col.type == "ts":
            local = f"strptime(substr({v}, 1, 19), '%Y-%m-%dT%H:%M:%S')"
            arms.append((f"{local} >= business_date + 1", "future_timestamp", col))
        if col.fk:
            arms.append((f"{v} IS NOT NULL AND NOT fk_{col.name}", "unknown_foreign_key", col))
    body = "\n".join(f"        WHEN {cond} THEN '{rule}|{col.name}'" for cond, rule, col in arms)
    return f"CASE\n{body}\n    END"


def _type_ok(col: Column, v: str) -> str:
    if col.type in ("int", "epoch_ms"):
        return f"regexp_matches({v}, {_lit(st.INT_RE)})"
    if col.type == "dec":
        return f"regexp_matches({v}, {_lit(st.dec_re(col.dp))})"
    if col.type == "ts":
        return (
            f"regexp_matches({v}, {_lit(st.TS_RE)}) AND "
            f"try_strptime(substr({v}, 1, 19), '%Y-%m-%dT%H:%M:%S') IS NOT NULL"
        )
    return "true"


def silver_sql(c: TableContract, files: list[str], known: dict[str, str], out: Path) -> str:
    """The whole silver transform of ``files`` as one script."""
    reads = "\nUNION ALL\n".join(
        f"SELECT {_lit(f)} AS source_file, row_number() OVER () AS record, line FROM read_csv("
        f"{_lit(f)}, columns={{'line': 'VARCHAR'}}, delim='\\x01', quote='', escape='', "
        "header=false, auto_detect=false)"
        for f in files
    )
    paths = ", ".join(_lit("$." + col.path) for col in c.columns)
    cols = ",\n    ".join(
        f"CASE WHEN trim(v[{i + 1}]) = '' THEN NULL ELSE v[{i + 1}] END AS \"{col.name}\""
        for i, col in enumerate(c.columns)
    )
    fks = ",\n    ".join(
        f'"{col.name}" IN (SELECT k FROM {known[col.fk]}) AS fk_{col.name}'  # type: ignore[index]
        for col in c.columns
        if col.fk
    )
    key = c.business_key[0]
    amount = next(col for col in c.columns if col.minor_units)
    ts = c.event_time
    return f"""
CREATE TEMP TABLE parsed AS
SELECT source_file, record, line,
    CAST(regexp_extract(source_file, 'ingest_date=([0-9-]+)', 1) AS DATE) AS business_date,
    CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END AS is_obj
FROM ({reads});
CREATE TEMP TABLE verdict AS
WITH fields AS (
    SELECT source_file, record, line, business_date, {cols}
    FROM (SELECT *, json_extract_string(line, [{paths}]) AS v FROM parsed WHERE is_obj)
),
judged AS (SELECT *, {_rules(c)} AS failed FROM (SELECT *, {fks} FROM fields))
SELECT *, CASE WHEN failed IS NULL AND row_number() OVER (
        PARTITION BY source_file, "{key}", failed IS NULL ORDER BY record) > 1
    THEN 'duplicate_id|{key}' ELSE failed END AS rule
FROM judged;
COPY (
    SELECT source_file, record, "{key}" AS record_id, split_part(rule, '|', 1) AS rule,
        split_part(rule, '|', 2) AS field, line AS payload
    FROM verdict WHERE rule IS NOT NULL
    UNION ALL
    SELECT source_file, record, NULL, 'malformed_row', NULL, line
    FROM parsed WHERE NOT is_obj AND trim(line) <> ''
) TO '{out}/quarantine.parquet' (FORMAT parquet, COMPRESSION zstd);
CREATE TEMP TABLE counts AS SELECT count(*) AS lines FROM parsed;
DROP TABLE parsed;
CREATE TEMP VIEW typed AS
SELECT * EXCLUDE ("{amount.name}", "{ts}", is_fraud),
    CAST("{amount.name}" AS DECIMAL(18, {amount.dp})) AS "{amount.name}",
    CAST(replace("{amount.name}", '.', '') AS BIGINT) AS {amount.name}_minor,
    CAST("{ts}" AS TIMESTAMPTZ) AS "{ts}",
    CAST(is_fraud AS BIGINT) AS is_fraud,
    hash(concat_ws(chr(31), {", ".join(f'coalesce("{col.name}", chr(0))' for col in c.columns)}))
        AS _payload_hash
FROM verdict WHERE rule IS NULL;
CREATE TEMP TABLE fx AS
SELECT quote, date, CAST(rate AS DOUBLE) AS rate FROM fx_rates WHERE base = '{FX_BASES[0]}';
COPY (
    SELECT t.* EXCLUDE (line, business_date, record, source_file, {
        ", ".join(f"fk_{col.name}" for col in c.columns if col.fk)
    }, failed, rule),
        CAST(round(t.{amount.name}_minor / 10 ** {amount.dp} / s.rate * r.rate, {amount.dp})
            AS DECIMAL(18, {amount.dp})) AS {amount.name}_reporting,
        CAST(year(t."{ts}" AT TIME ZONE 'UTC') AS SMALLINT) AS year,
        CAST(month(t."{ts}" AT TIME ZONE 'UTC') AS TINYINT) AS month,
        CAST(day(t."{ts}" AT TIME ZONE 'UTC') AS TINYINT) AS day,
        CAST(hour(t."{ts}" AT TIME ZONE 'UTC') AS TINYINT) AS hour,
        'duckdb-peer' AS _run_id, CAST(t.business_date AS VARCHAR) AS _ingest_date,
        t.source_file AS _source_file, t.record AS _source_record
    FROM typed t
    ASOF LEFT JOIN (SELECT * FROM fx UNION ALL SELECT DISTINCT '{FX_BASES[0]}', date, 1.0
                    FROM fx) s
        ON s.quote = t.currency AND s.date <= CAST(t."{ts}" AT TIME ZONE 'UTC' AS DATE)
    ASOF LEFT JOIN (SELECT * FROM fx WHERE quote = $rc) r
        ON r.date <= CAST(t."{ts}" AT TIME ZONE 'UTC' AS DATE)
    ORDER BY customer_id
) TO '{out}/card_transactions' (FORMAT parquet, COMPRESSION zstd,
    PARTITION_BY (year, month, day, hour), OVERWRITE_OR_IGNORE);
"""


def run_silver_peer(con: duckdb.DuckDBPyConnection, c: TableContract, files: list[str],
                    out: Path, rc: str) -> dict[str, int]:  # fmt: skip
    """Run the script; counts of lines read, rows written and rows quarantined.

    The memory limit makes DuckDB spill to disk instead of taking most of the host (left to
    itself it takes 80% of RAM: 20 GB on this one).
    """
    con.execute("SET memory_limit = '6GB'")
    known = {"cards.card_id": "k_cards", "accounts.account_id": "k_accounts",
             "customers.customer_id": "k_customers"}  # fmt: skip
    con.execute("CREATE TEMP TABLE k_cards AS SELECT DISTINCT card_id AS k FROM cards")
    con.execute("CREATE TEMP TABLE k_accounts AS SELECT DISTINCT account_id AS k FROM accounts")
    con.execute(
        "CREATE TEMP TABLE k_customers AS SELECT customer_id AS k FROM customers "
        "UNION SELECT customer_id FROM customer_changes"
    )
    for stmt in silver_sql(c, files, known, out).split(";\n"):
        if stmt.strip():
            params = {"rc": rc} if "$rc" in stmt else None
            con.execute(stmt, params)

    def count(sql: str) -> int:
        return int(con.sql(sql).fetchall()[0][0])

    return {
        "lines": count("SELECT lines FROM counts"),
        "written": count("SELECT count(*) FROM verdict WHERE rule IS NULL"),
        "quarantined": count(f"SELECT count(*) FROM read_parquet('{out}/quarantine.parquet')"),
    }


def run_gold_peer(con: duckdb.DuckDBPyConnection, days: list[dt.date], out: Path,
                  rc: str) -> int:  # fmt: skip
    """Every gold query of every day over the peer's silver Parquet; rows written."""
    con.execute(
        "CREATE OR REPLACE VIEW card_transactions AS SELECT * FROM read_parquet("
        f"'{out}/card_transactions/**/*.parquet', hive_partitioning=true)"
    )
    rows = 0
    for day in days:
        params = {
            "d": day, "y": day.year, "m": day.month, "dd": day.day,
            "lo": day - dt.timedelta(days=FEATURE_WINDOW_DAYS - 1), "rc": rc,
            "base": FX_BASES[0],
        }  # fmt: skip
        for spec in GOLD_TABLES:
            used = {k: params[k] for k in set(re.findall(r"\$(\w+)", spec.sql))}
            table = con.sql(spec.sql, params=used).to_arrow_table()
            if table.num_rows:
                folder = out / "gold" / spec.name
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(table, folder / f"{day}.parquet", compression="zstd")
                rows += table.num_rows
    return rows
