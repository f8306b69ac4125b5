"""Debezium-style change events of the customer management system.

The generator keeps every customer's current state; each event's ``before`` is that state at
the moment of the change and its ``after`` becomes the new state, so replaying the events in
file order over the core banking extracts reproduces the full SCD2 history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from ray_platform.generator import reference as ref
from ray_platform.generator.customers import new_address

_SOURCE = {"connector": "postgresql", "db": "custmgmt", "schema": "public", "table": "customers"}
_CHANGES = ("address", "segment", "status", "kyc", "contact")
_CHANGE_P = (0.35, 0.15, 0.25, 0.1, 0.15)


class CustomerState:
    """Current state of every customer, and the change events that move it."""

    def __init__(self) -> None:
        self.current: dict[str, dict[str, Any]] = {}
        self.lsn = 1_000_000

    def add(self, customers: list[dict[str, Any]]) -> None:
        """Customers from a core banking extract, as of the start of their day."""
        for c in customers:
            self.current[c["customer_id"]] = dict(c)

    def _event(self, op: str, before: Any, after: Any, ts_ms: int) -> dict[str, Any]:
        self.lsn += int(1 + (ts_ms % 7))
        return {
            "op": op,
            "before": before,
            "after": after,
            "ts_ms": ts_ms,
            "source": {**_SOURCE, "lsn": self.lsn},
        }

    def day_events(
        self,
        day: dt.date,
        created: list[dict[str, Any]],
        change_rate: float,
        rng: np.random.Generator,
    ) -> list[dict[str, Any]]:
        """The day's events: creates for ``created``, then updates and a few deletes."""
        day_ms = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000)
        ids = sorted(self.current)
        n_upd = int(rng.poisson(len(ids) * change_rate))
        closed = [i for i in ids if self.current[i]["status"] == "closed"]
        n_del = int(rng.poisson(max(0.5, len(closed) * 0.02))) if closed else 0
        # Events happen during office hours, in time order; the creates are mirrored by the
        # day's core banking extract.
        plan: list[tuple[int, str, str | None]] = []
        for c in created:
            ms = int(dt.datetime.fromisoformat(c["created_at"]).timestamp() * 1000)
            plan.append((ms, "c", c["customer_id"]))
        for kind, pool in [("u", ids)] * n_upd + [("d", closed)] * n_del:
            ms = day_ms + int(rng.integers(7 * 3600_000, 20 * 3600_000))
            plan.append((ms, kind, pool[int(rng.integers(len(pool)))] if pool else None))
        plan.sort(key=lambda p: (p[0], p[1], p[2] or ""))
        by_id = {c["customer_id"]: c for c in created}
        events = []
        for ms, op, cid in plan:
            if op == "c":
                after = dict(by_id[cid])
                self.current[cid] = after
                events.append(self._event("c", None, dict(after), ms))
                continue
            if cid is None or cid not in self.current:
                continue  # deleted earlier today
            before = self.current[cid]
            if op == "d":
                if before["status"] != "closed":
                    continue  # only closed customers are purged
                del self.current[cid]
                events.append(self._event("d", dict(before), None, ms))
                continue
            after = self._change(before, rng)
            if after is None:
                continue
            self.current[cid] = after
            events.append(self._event("u", dict(before), dict(after), ms))
        return events

    @staticmethod
    def _change(before: dict[str, Any], rng: np.random.Generator) -> dict[str, Any] | None:
        after = dict(before)
        change = _CHANGES[int(rng.choice(len(_CHANGES), p=_CHANGE_P))]
        if change == "address":
            after.update(new_address(before, rng))
        elif change == "segment":
            options = [s for s in ref.SEGMENTS if s != before["segment"]]
            after["segment"] = options[int(rng.integers(len(options)))]
        elif change == "status":
            moves = {"active": ("dormant", "closed"), "dormant": ("active", "closed")}
            options = moves.get(before["status"], ())
            if not options:
                return None
            after["status"] = options[int(rng.integers(len(options)))]
        elif change == "kyc":
            options = [k for k in ref.KYC_RATINGS if k != before["kyc_risk_rating"]]
            after["kyc_risk_rating"] = options[int(rng.integers(len(options)))]
        else:
            n = int(rng.integers(0, 10**9))
            after["phone"] = after["phone"][:-9] + f"{n:09d}"
            after["email"] = f"{after['first_name']}.{after['last_name']}{n % 997}@example.com"
            after["email"] = after["email"].lower()
        return after
