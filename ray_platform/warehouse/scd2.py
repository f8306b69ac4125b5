"""Slowly changing dimensions, type 2: version chains from CDC events or snapshot diffs.

Rules (also in ``docs/warehouse.md``):

* A version is valid on ``[valid_from, valid_to)``; the current one ends at
  :data:`~ray_platform.warehouse.model.OPEN_END` and has ``is_current``.
* ``dim_customer``: the chain starts with the customer's row in the first extract (the earliest
  ``silver/customers`` version), valid from ``created_at``; every CDC ``c``/``u`` event whose
  after image changes a tracked column opens a new version at the event's ``ts_ms`` (events
  that change only untracked columns, such as tokenised contact details, open none); a ``d``
  closes the chain at its ``ts_ms`` and sets ``deleted_at``. A customer known only from the
  current ``silver/customers`` (no extract row, no event) gets one ``extract`` version from
  ``created_at``.
* ``dim_account``: change events first, then a snapshot diff. Each CDC event in
  ``silver/account_changes`` (Debezium's ``cdc.core.accounts``) after the account's latest
  version opens a version at its commit time when it changes a tracked column (an account first
  seen through an update, such as the connector's initial snapshot, from its ``open_date``); a
  ``d`` closes the current version there, leaving the account with none. Then each load diffs the
  ``silver/accounts`` snapshot against the current versions for the accounts without a feed
  (the file extracts): a new account is valid from its ``open_date``, a changed one gets a new
  version from the start of the business date. A deleted account is reopened only by an event.
* Surrogate keys hash the natural key and ``valid_from``, so a rebuilt chain keeps its keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from ray_platform.warehouse.model import OPEN_END, surrogate_key

Row = dict[str, Any]

CUSTOMER_TRACKED = (
    "segment",
    "kyc_risk_rating",
    "status",
    "country",
    "region",
    "city",
    "address_line",
    "postcode",
    "created_at",
)
"""Columns of ``dim_customer`` whose change opens a new version."""
ACCOUNT_TRACKED = ("customer_id", "account_type", "status", "product_code", "currency", "open_date")
"""Columns of ``dim_account`` whose change opens a new version."""


def _open(
    natural: str,
    key: str,
    attrs: Mapping[str, Any],
    cols: Iterable[str],
    valid_from: dt.datetime,
    **extra: Any,
) -> Row:
    row = {key: natural, **{c: attrs.get(c) for c in cols}, **extra}
    row.update(valid_from=valid_from, valid_to=OPEN_END, is_current=True)
    return row


def _close(row: Row, at: dt.datetime) -> None:
    row["valid_to"] = at
    row["is_current"] = False


def customer_chain(
    customer_id: str,
    snapshot: Mapping[str, Any] | None,
    events: list[Mapping[str, Any]],
    current: Mapping[str, Any] | None = None,
) -> list[Row]:
    """Every version of one customer, oldest first (``events`` sorted in commit order)."""
    extra = {"deleted_at": None}
    chain: list[Row] = []
    if snapshot is not None:
        chain.append(
            _open(
                customer_id,
                "customer_id",
                snapshot,
                CUSTOMER_TRACKED,
                snapshot["created_at"],
                change_op="snapshot",
                **extra,
            )
        )
    for ev in events:
        at = ev["event_ts"]
        last = chain[-1] if chain else None
        if ev["op"] == "d":
            if last is not None and last["is_current"]:
                _close(last, at)
                last["deleted_at"] = at
            continue
        if last is not None and last["is_current"]:
            if all(last[c] == ev.get(c) for c in CUSTOMER_TRACKED):
                continue  # nothing the dimension tracks changed
            if at <= last["valid_from"]:  # same instant: the later event wins
                last.update({c: ev.get(c) for c in CUSTOMER_TRACKED}, change_op=ev["op"])
                continue
            _close(last, at)
        chain.append(
            _open(customer_id, "customer_id", ev, CUSTOMER_TRACKED, at, change_op=ev["op"], **extra)
        )
    if not chain and current is not None:
        chain.append(
            _open(
                customer_id,
                "customer_id",
                current,
                CUSTOMER_TRACKED,
                current["created_at"],
                change_op="extract",
                **extra,
            )
        )
    for row in chain:
        row["customer_sk"] = surrogate_key(customer_id, row["valid_from"].isoformat())
    return chain


def account_events(latest: Mapping[str, Any] | None, events: list[Mapping[str, Any]]) -> list[Row]:
    """Rows to write for one account's change ``events`` (sorted in commit order), oldest first.

    ``latest`` is the account's newest ``dim_account`` version, current or closed by a delete.
    The chain only grows: an event at or before that version's start (or its end, once deleted)
    is already in it, which makes a rerun over the same events write nothing. A version the
    events close is returned too, so one merge replaces it.
    """
    out: list[Row] = []
    last = dict(latest) if latest is not None else None
    for ev in events:
        at = ev["event_ts"]
        if last is not None:
            seen_to = last["valid_from"] if last["is_current"] else last["valid_to"]
            if at <= seen_to:
                continue
        if ev["op"] == "d":
            if last is not None and last["is_current"]:
                _close(last, at)
                out.append(last)
            continue
        if last is not None and last["is_current"]:
            if all(last[c] == ev.get(c) for c in ACCOUNT_TRACKED):
                continue  # nothing the dimension tracks changed
            _close(last, at)
            out.append(last)
        start = at
        if last is None and ev["op"] != "c" and ev.get("open_date") is not None:
            # First seen through an update (or the connector's initial snapshot, read as one):
            # the account predates the event, so it is valid from its open date, as in a diff.
            start = min(at, dt.datetime.combine(ev["open_date"], dt.time(), dt.UTC))
        last = _open(ev["account_id"], "account_id", ev, ACCOUNT_TRACKED, start)
        out.append(last)
    for row in out:
        row["account_sk"] = surrogate_key(row["account_id"], row["valid_from"].isoformat())
    # A version these events open and then close was appended twice (the same row): keep one.
    return list({r["account_sk"]: r for r in out}.values())


def account_changes(
    current_versions: Mapping[str, Row], snapshot: Iterable[Mapping[str, Any]], as_of: dt.datetime
) -> tuple[list[Row], list[str]]:
    """Rows to write for accounts that are new or changed in ``snapshot``, and their ids.

    ``current_versions`` maps account id to its current ``dim_account`` row. A changed account's
    current version is closed at ``as_of`` and a new one opened there; the closed version is
    returned too so the caller can replace the account's rows in one commit.
    """
    out: list[Row] = []
    ids: list[str] = []
    for acc in snapshot:
        aid = acc["account_id"]
        cur = current_versions.get(aid)
        if cur is None:
            start = dt.datetime.combine(acc["open_date"], dt.time(), dt.UTC)
            out.append(_open(aid, "account_id", acc, ACCOUNT_TRACKED, min(start, as_of)))
        elif any(cur[c] != acc.get(c) for c in ACCOUNT_TRACKED):
            closed = dict(cur)
            _close(closed, max(as_of, cur["valid_from"]))
            out += [closed, _open(aid, "account_id", acc, ACCOUNT_TRACKED, closed["valid_to"])]
        else:
            continue
        ids.append(aid)
    for row in out:
        row["account_sk"] = surrogate_key(row["account_id"], row["valid_from"].isoformat())
    return out, ids
