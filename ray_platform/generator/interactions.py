"""Customer interactions across branches, the call centre and the mobile app."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from ray_platform.generator import reference as ref

_CHANNEL_P = (0.1, 0.3, 0.6)
_TYPE_P = (0.3, 0.08, 0.07, 0.08, 0.07, 0.05, 0.1, 0.25)
_OUTCOME_P = (0.7, 0.1, 0.15, 0.05)
_DURATION = {"branch": (300, 3600), "call_centre": (60, 1800), "app": (10, 600)}


def day_interactions(
    day: dt.date, customers: dict[str, dict[str, Any]], rate: float, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """About ``rate`` interactions per customer, in time order (UTC)."""
    ids = sorted(customers)
    n = int(rng.poisson(len(ids) * rate))
    secs = np.sort(rng.integers(6 * 3600, 22 * 3600, size=n))
    who = rng.integers(0, len(ids), size=max(n, 1))
    channel = rng.choice(3, size=max(n, 1), p=_CHANNEL_P)
    kind = rng.choice(len(ref.INTERACTION_TYPES), size=max(n, 1), p=_TYPE_P)
    outcome = rng.choice(len(ref.INTERACTION_OUTCOMES), size=max(n, 1), p=_OUTCOME_P)
    out = []
    for k in range(n):
        cust = customers[ids[who[k]]]
        ch = ref.INTERACTION_CHANNELS[channel[k]]
        lo, hi = _DURATION[ch]
        s = int(secs[k])
        out.append(
            {
                "interaction_id": f"I{day:%Y%m%d}{k + 1:06d}",
                "customer_id": cust["customer_id"],
                "channel": ch,
                "type": ref.INTERACTION_TYPES[kind[k]],
                "timestamp": f"{day}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z",
                "branch_id": f"BR{cust['country']}{int(rng.integers(1, 40)):03d}"
                if ch == "branch"
                else None,
                "duration_s": int(rng.integers(lo, hi)),
                "outcome": ref.INTERACTION_OUTCOMES[outcome[k]],
            }
        )
    return out
