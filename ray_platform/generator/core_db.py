"""The generator's core banking as a real database: customers and accounts in PostgreSQL.

Instead of writing ``customer_changes.jsonl``, :class:`CoreBankingDB` applies each change event
of :class:`~ray_platform.generator.cdc.CustomerState` to ``core.customers`` (``c`` inserts,
``u`` updates, ``d`` deletes), one transaction per event so every change has its own commit and
Debezium (``cluster/connect``) streams it as one message. The tables keep ``REPLICA IDENTITY
FULL`` so an update or a delete carries the full before image, as the file events do.

Columns are typed as a core-banking system would type them (``date``, ``timestamptz``);
``ray_platform.lake.debezium`` turns Debezium's encodings back into the file records' text::

    db = CoreBankingDB(PostgresServer().dsn())
    db.create_schema()
    db.insert_customers(customers)
    db.apply_events(events)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from ray_platform.errors import ServiceError
from ray_platform.services.postgres import SCHEMA_SQL

CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_id", "first_name", "last_name", "email", "phone", "date_of_birth", "national_id",
    "address_line", "city", "postcode", "country", "region", "iban", "segment",
    "kyc_risk_rating", "status", "created_at",
)  # fmt: skip
"""Columns of ``core.customers``, in the generator's record order."""
ACCOUNT_COLUMNS: tuple[str, ...] = (
    "account_id", "customer_id", "account_type", "status", "open_date", "product_code",
    "currency", "iban",
)  # fmt: skip
"""Columns of ``core.accounts``."""


class CoreBankingDB:
    """Customers and accounts of one bank in PostgreSQL, changed the way the generator says."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.dsn, autocommit=True)
        except psycopg.OperationalError as exc:
            raise ServiceError(
                f"cannot reach the core-banking PostgreSQL ({exc}); run `gbank postgres start`"
            ) from None

    def create_schema(self) -> None:
        """Create ``core.customers`` and ``core.accounts`` unless they exist."""
        with self._connect() as con:
            con.execute(SCHEMA_SQL.read_text())

    def insert_customers(self, customers: Iterable[Mapping[str, Any]]) -> int:
        """Insert customers (a bank's initial load, in one transaction); returns the count."""
        return self._insert("core.customers", CUSTOMER_COLUMNS, customers)

    def insert_accounts(self, accounts: Iterable[Mapping[str, Any]]) -> int:
        """Insert accounts in one transaction; returns the count."""
        return self._insert("core.accounts", ACCOUNT_COLUMNS, accounts)

    def apply_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Apply change events in order, each in its own transaction; returns how many applied.

        ``c`` inserts the after image, ``u`` sets every column to the after image, ``d`` deletes
        the customer. An event whose row is not in the expected state (an insert of an existing
        customer, an update or delete of a missing one) raises :class:`ServiceError`: the
        generator's state and the database have diverged.
        """
        cols = ", ".join(CUSTOMER_COLUMNS)
        marks = ", ".join(["%s"] * len(CUSTOMER_COLUMNS))
        sets = ", ".join(f"{c} = %s" for c in CUSTOMER_COLUMNS[1:])
        done = 0
        with self._connect() as con:
            for ev in events:
                op, row = ev["op"], ev["after"] or ev["before"]
                if op == "c":
                    sql = f"INSERT INTO core.customers ({cols}) VALUES ({marks})"
                    args = _values(row, CUSTOMER_COLUMNS)
                elif op == "u":
                    sql = f"UPDATE core.customers SET {sets} WHERE customer_id = %s"
                    args = [*_values(row, CUSTOMER_COLUMNS[1:]), row["customer_id"]]
                elif op == "d":
                    sql = "DELETE FROM core.customers WHERE customer_id = %s"
                    args = [row["customer_id"]]
                else:
                    raise ValueError(f"unknown change op {op!r}")
                cur = con.execute(sql, args)
                if cur.rowcount != 1:
                    raise ServiceError(
                        f"core.customers: {op} of {row['customer_id']} touched {cur.rowcount} rows"
                    )
                done += 1
        return done

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        """One customer's current row, or None."""
        with self._connect() as con:
            cur = con.execute(
                f"SELECT {', '.join(CUSTOMER_COLUMNS)} FROM core.customers WHERE customer_id = %s",
                (customer_id,),
            )
            row = cur.fetchone()
        return None if row is None else dict(zip(CUSTOMER_COLUMNS, row, strict=True))

    def _insert(
        self, table: str, columns: tuple[str, ...], rows: Iterable[Mapping[str, Any]]
    ) -> int:
        data = [_values(r, columns) for r in rows]
        if not data:
            return 0
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        with self._connect() as con, con.transaction(), con.cursor() as cur:
            cur.executemany(sql, data)
        return len(data)


def _values(row: Mapping[str, Any], columns: tuple[str, ...]) -> list[Any]:
    out = []
    for c in columns:
        v = row.get(c)
        if c == "created_at" and isinstance(v, str):
            v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        elif c in ("date_of_birth", "open_date") and isinstance(v, str):
            v = dt.date.fromisoformat(v)
        out.append(v)
    return out
