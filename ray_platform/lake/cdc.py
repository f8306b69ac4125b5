"""Apply validated customer change events to silver ``customers`` as one merge (+ deletes).

Events are replayed in ``ts_ms`` order: the last event of each customer decides its state;
``c`` and ``u`` upsert the after image, ``d`` deletes the customer. The events themselves stay
in ``silver/customer_changes`` for the warehouse's SCD2 history.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.lake import layout
from ray_platform.tables import TableStore

CUSTOMERS = layout.silver_table("customers")


def final_states(events: pa.Table) -> tuple[pa.Table, list[str]]:
    """The last event per customer: upserts (after images) and deleted customer ids."""
    order = events.sort_by([("event_ts", "ascending"), ("_source_record", "ascending")])
    ids = order.column("customer_id").to_pylist()
    last = {cid: i for i, cid in enumerate(ids)}
    final = order.take(pa.array(sorted(last.values()), pa.int64()))
    is_del = pc.equal(final.column("op"), "d")
    deletes = final.filter(is_del).column("customer_id").to_pylist()
    return final.filter(pc.invert(is_del)), deletes


def apply_changes(store: TableStore, events: pa.Table) -> None:
    """Merge the events' final states into silver customers; delete deleted customers."""
    if not events.num_rows:
        return
    upserts, deletes = final_states(events)
    if store.exists(CUSTOMERS):
        schema = store.dataset(CUSTOMERS).schema
        cols = {}
        for f in schema:
            if f.name in upserts.column_names:
                cols[f.name] = upserts.column(f.name).cast(f.type)
            else:
                cols[f.name] = pa.nulls(upserts.num_rows, f.type)
        upserts = pa.table(cols, schema=schema)
        if upserts.num_rows:
            store.merge(CUSTOMERS, upserts, ["customer_id"])
        if deletes:
            quoted = ", ".join("'" + d.replace("'", "''") + "'" for d in sorted(set(deletes)))
            store.delete(CUSTOMERS, f"customer_id IN ({quoted})")
