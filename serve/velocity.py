"""Streaming velocity state: per card and per customer, counts and amounts in sliding windows.

The online store's velocity features are as fresh as the last materialisation; a card-testing
burst must be visible *inside* the burst. :class:`VelocityState` keeps, per card and per
customer, the recent transactions this scorer has seen, and gives the same features the
offline tables compute (``features/engineering.py``) over the transactions *before* the one
being scored (training joins features stamped one microsecond before each transaction).

Windows are in event time (the transaction's own timestamp), so replays and back-fills count
the way they happened. The scorer combines the stream with the stored value by taking the
larger (:func:`merge`): the store counts everything up to its materialisation, the stream
everything since this process started, and neither ever overcounts.

Scope: one state per process. An HTTP replica sees the transactions it scored; a Kafka
consumer sees its partition, and since the ``transactions`` topic is keyed by card, a card's
burst always lands in one consumer. Several HTTP replicas each see a share of a card's
traffic; for exact cross-replica counts put the state in Redis (the production online store)
behind the same interface.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_10M = 600.0
WINDOW_1H = 3600.0
WINDOW_24H = 86400.0
MAX_EVENTS_PER_KEY = 2000
"""Events kept per card or customer (a card with more in 24 h is saturated anyway)."""


@dataclass(frozen=True)
class Event:
    """What a window needs to remember of one transaction."""

    ts: float
    amount: float
    ecom: bool


CARD_FEATURES = (
    "card_txn_count_10m",
    "card_txn_count_1h",
    "card_amount_sum_1h",
    "card_ecom_count_1h",
    "card_txn_count_24h",
)
CUSTOMER_FEATURES = ("cust_txn_count_1h", "cust_amount_sum_1h", "cust_txn_count_24h")
FEATURES = (*CARD_FEATURES, *CUSTOMER_FEATURES)
"""The stored features the stream can refresh."""


class VelocityState:
    """Per-key event windows with an LRU bound on keys; thread-safe."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self.max_keys = max_keys
        self._cards: OrderedDict[str, deque[Event]] = OrderedDict()
        self._customers: OrderedDict[str, deque[Event]] = OrderedDict()
        self._lock = threading.Lock()

    def features(self, card_id: str, customer_id: str, at: dt.datetime) -> dict[str, float]:
        """The windows' values strictly before ``at`` (the transaction being scored)."""
        t = at.timestamp()
        with self._lock:
            card = list(self._cards.get(card_id, ()))
            cust = list(self._customers.get(customer_id, ()))

        def within(events: list[Event], span: float) -> list[Event]:
            return [e for e in events if t - span <= e.ts < t]

        c1h, c10m, c24h = (
            within(card, WINDOW_1H),
            within(card, WINDOW_10M),
            within(card, WINDOW_24H),
        )
        u1h, u24h = within(cust, WINDOW_1H), within(cust, WINDOW_24H)
        return {
            "card_txn_count_10m": float(len(c10m)),
            "card_txn_count_1h": float(len(c1h)),
            "card_amount_sum_1h": float(sum(e.amount for e in c1h)),
            "card_ecom_count_1h": float(sum(e.ecom for e in c1h)),
            "card_txn_count_24h": float(len(c24h)),
            "cust_txn_count_1h": float(len(u1h)),
            "cust_amount_sum_1h": float(sum(e.amount for e in u1h)),
            "cust_txn_count_24h": float(len(u24h)),
        }

    def record(
        self, card_id: str, customer_id: str, at: dt.datetime, amount: float, ecom: bool
    ) -> None:
        """Add a scored transaction to its card's and customer's windows."""
        ev = Event(at.timestamp(), float(amount), bool(ecom))
        with self._lock:
            for table, key in ((self._cards, card_id), (self._customers, customer_id)):
                q = table.get(key)
                if q is None:
                    q = table[key] = deque(maxlen=MAX_EVENTS_PER_KEY)
                    if len(table) > self.max_keys:
                        table.popitem(last=False)
                else:
                    table.move_to_end(key)
                q.append(ev)
                horizon = max(q[-1].ts, ev.ts) - WINDOW_24H
                while q and q[0].ts < horizon:
                    q.popleft()

    def forget(self, matches: Callable[[str], bool]) -> int:
        """Drop every card and customer window whose key ``matches`` (GDPR erasure)."""
        dropped = 0
        with self._lock:
            for table in (self._cards, self._customers):
                for key in [k for k in table if matches(k)]:
                    del table[key]
                    dropped += 1
        return dropped

    def seen(self, card_id: str) -> bool:
        """Whether this state holds any event of ``card_id``."""
        with self._lock:
            return bool(self._cards.get(card_id))

    def __len__(self) -> int:
        with self._lock:
            return len(self._cards)


def merge(stored: dict[str, float], stream: dict[str, float]) -> dict[str, float]:
    """Stored features refreshed by the stream: the larger of the two for each window."""
    out = dict(stored)
    for name, value in stream.items():
        old = out.get(name)
        out[name] = value if old is None or old != old or value > old else old
    return out
