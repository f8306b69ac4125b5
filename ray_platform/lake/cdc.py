"""Apply validated change events to their silver entity table as one merge (+ deletes).

A ``cdc`` contract's events change one entity table: the entity contract whose business key is
the first column of the events' after image (``customer_changes`` -> ``customers`` by
``customer_id``, ``account_changes`` -> ``accounts`` by ``account_id``; see :func:`target`).
Events are replayed in ``event_ts`` order: the last event of each key decides its state; ``c``
and ``u`` upsert the after image, ``d`` deletes the row. The events themselves stay in the
change table (``silver/customer_changes``, ``silver/account_changes``); the warehouse builds
dim_customer's SCD2 history from the customers' ones.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.contracts import CONTRACTS, TableContract
from ray_platform.lake import layout
from ray_platform.tables import TableStore


def change_key(contract: TableContract) -> str:
    """The key of a ``cdc`` contract's events: its first column read from the after image.

    A delete has no after image; the key is then read from the before image
    (``before.<key>``), and silver's ``<key>`` column holds whichever image carries it.
    """
    return next(c.name for c in contract.columns if c.path.startswith("after."))


def target(contract: TableContract) -> tuple[TableContract, str]:
    """The entity contract a ``cdc`` contract's events apply to, and the key column.

    The target is the entity table keyed by :func:`change_key` alone.
    """
    key = change_key(contract)
    for c in CONTRACTS.values():
        if c.format != "cdc" and c.kind == "entity" and c.business_key == (key,):
            return c, key
    raise LookupError(f"{contract.name}: no entity table is keyed by {key!r} alone")


def final_states(events: pa.Table, key: str) -> tuple[pa.Table, list[str]]:
    """The last event per ``key``: upserts (after images) and the deleted keys."""
    order = events.sort_by([("event_ts", "ascending"), ("_source_record", "ascending")])
    ids = order.column(key).to_pylist()
    last = {k: i for i, k in enumerate(ids)}
    final = order.take(pa.array(sorted(last.values()), pa.int64()))
    is_del = pc.equal(final.column("op"), "d")
    deletes = final.filter(is_del).column(key).to_pylist()
    return final.filter(pc.invert(is_del)), deletes


def apply_changes(store: TableStore, events: pa.Table, contract: TableContract) -> None:
    """Merge the events' final states into ``contract``'s target table; delete deleted keys.

    Nothing happens while the target table does not exist yet (its extract has not run).
    """
    if not events.num_rows:
        return
    entity, key = target(contract)
    name = layout.silver_table(entity.name)
    if not store.exists(name):
        return
    upserts, deletes = final_states(events, key)
    schema = store.dataset(name).schema
    cols = {}
    for f in schema:
        if f.name in upserts.column_names:
            cols[f.name] = upserts.column(f.name).cast(f.type)
        else:
            cols[f.name] = pa.nulls(upserts.num_rows, f.type)
    upserts = pa.table(cols, schema=schema)
    if upserts.num_rows:
        store.merge(name, upserts, [key])
    if deletes:
        quoted = ", ".join("'" + d.replace("'", "''") + "'" for d in sorted(set(deletes)))
        store.delete(name, f"{key} IN ({quoted})")
