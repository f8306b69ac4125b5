"""The dashboard's numbers, per tab, read as the viewer through the governed SQL path.

Every panel is one read-only SQL statement run by :func:`ray_platform.warehouse.sql.query` as
the viewer's principal, so the access policy and masking apply exactly as for ``gbank sql``.
A panel whose datasets the viewer's role may not read is ``denied`` without running; a tab
whose panels are all denied is not offered to that role at all.

Sources:

* **fraud**: alerts and scores from the scoring service's Kafka topics (:mod:`.fraud`: they
  are not persisted in the lake), reviewed outcomes from ``warehouse.fact_transactions.is_fraud``
  (an alert counts as reviewed once its transaction has a label there); the tab needs read
  access to ``warehouse.fact_transactions``, the one governed dataset it reads.
* **risk**: ``mart_risk.var_by_desk`` (firm and desk VaR/ES; historical, 99 %, 1 day),
  ``warehouse.fact_stress_results`` and ``warehouse.fact_backtests`` (latest date each).
* **data**: ``platform.dq_results`` (latest result of every check of every table, freshness
  included) and ``platform.dag_runs`` (the daily DAG's last runs).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

from ray_platform.api.fraud import FraudFeed
from ray_platform.api.results import rows
from ray_platform.errors import AccessDenied, InvalidArgument, NotFound
from ray_platform.governance.access import Principal
from ray_platform.governance.policy import policy_for
from ray_platform.settings import Settings

TABS = ("fraud", "risk", "data")
VAR_METHOD, VAR_CONFIDENCE, VAR_HORIZON = "historical", 0.99, 1
SCORE_BINS = 10
CACHE_S = 2.0
LABELS = "warehouse.fact_transactions"

SQL = {
    "var_trend": (
        "SELECT as_of, desk, var, es, currency FROM mart_risk.var_by_desk "
        f"WHERE method = '{VAR_METHOD}' AND confidence = {VAR_CONFIDENCE} "
        f"AND horizon_days = {VAR_HORIZON} ORDER BY as_of, desk"
    ),
    "stress": (
        "SELECT as_of, scenario, scenario_type, pnl, currency "
        "FROM warehouse.fact_stress_results WHERE scope = 'firm' "
        "AND as_of = (SELECT max(as_of) FROM warehouse.fact_stress_results) ORDER BY pnl"
    ),
    "backtest": (
        "SELECT as_of, scope, coalesce(desk, 'FIRM') AS desk, method, confidence, days, "
        "exceptions, zone FROM warehouse.fact_backtests "
        "WHERE as_of = (SELECT max(as_of) FROM warehouse.fact_backtests) "
        "ORDER BY scope DESC, desk, method, confidence"
    ),
    "quality": (
        'SELECT "table", "check", passed, metric, threshold, day, checked_at, detail '
        "FROM platform.dq_results "
        'QUALIFY row_number() OVER (PARTITION BY "table", "check" ORDER BY checked_at DESC) = 1 '
        'ORDER BY "table", "check"'
    ),
    "dag_runs": (
        "WITH steps AS (SELECT run_id, business_date, step, "
        "arg_max(status, recorded_ns) AS status, min(started_at) AS started_at, "
        "max(ended_at) AS ended_at, max(recorded_ns) AS recorded_ns "
        "FROM platform.dag_runs GROUP BY ALL) "
        "SELECT run_id, business_date, count(*) AS steps, "
        "count(*) FILTER (WHERE status IN ('succeeded', 'not_applicable')) AS done, "
        "count(*) FILTER (WHERE status = 'failed') AS failed, "
        "count(*) FILTER (WHERE status = 'running') AS running, "
        "CASE WHEN count(*) FILTER (WHERE status = 'failed') > 0 THEN 'failed' "
        "WHEN count(*) FILTER (WHERE status NOT IN ('succeeded', 'not_applicable')) > 0 "
        "THEN 'running' ELSE 'succeeded' END AS status, "
        "min(started_at) AS started_at, max(ended_at) AS ended_at "
        "FROM steps GROUP BY run_id, business_date ORDER BY max(recorded_ns) DESC LIMIT 5"
    ),
}
NEEDS = {
    "var_trend": ("mart_risk.var_by_desk",),
    "stress": ("warehouse.fact_stress_results",),
    "backtest": ("warehouse.fact_backtests",),
    "quality": ("platform.dq_results",),
    "dag_runs": ("platform.dag_runs",),
    "fraud": (LABELS,),
}
PANELS = {
    "fraud": ("fraud",),
    "risk": ("var_trend", "stress", "backtest"),
    "data": ("quality", "dag_runs"),
}


class Dashboard:
    """Builds tab payloads for a principal; cached per (role, tab) for :data:`CACHE_S`."""

    def __init__(self, settings: Settings, feed: FraudFeed) -> None:
        self.settings, self.feed = settings, feed
        self._cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def allowed(self, principal: Principal, panel: str) -> bool:
        """Whether the role may read every dataset ``panel`` reads."""
        policy = policy_for(self.settings)
        return all(policy.may_read(principal.role, n)[0] for n in NEEDS[panel])

    def tabs(self, principal: Principal) -> list[str]:
        """The tabs ``principal``'s role may open (at least one panel readable)."""
        policy_for(self.settings).role(principal.role)  # an unknown role: AccessDenied
        return [t for t in TABS if any(self.allowed(principal, p) for p in PANELS[t])]

    def tab(self, name: str, principal: Principal) -> dict[str, Any]:
        """The panels of tab ``name`` as ``principal`` may see them."""
        if name not in TABS:
            raise NotFound(f"no dashboard tab {name!r}; tabs: {', '.join(TABS)}")
        if name not in self.tabs(principal):
            raise AccessDenied(
                f"{principal.user} (role {principal.role}) may not open the {name} tab: "
                f"its role reads none of {', '.join(n for p in PANELS[name] for n in NEEDS[p])}"
            )
        # Cached per user: the governed reads and their audit records stay per person.
        key = (principal.user + "\0" + principal.role, name)
        with self._lock:
            hit = self._cache.get(key)
            if hit and time.monotonic() - hit[0] < CACHE_S:
                return hit[1]
        out: dict[str, Any] = {"tab": name, "generated_at": _now()}
        for panel in PANELS[name]:
            if not self.allowed(principal, panel):
                out[panel] = {"denied": f"role {principal.role} may not read "
                              f"{', '.join(NEEDS[panel])}"}  # fmt: skip
                continue
            build: Callable[[Principal], dict[str, Any]] = (
                self._fraud if panel == "fraud" else lambda p, k=panel: self._sql(k, p)
            )
            try:
                out[panel] = build(principal)
            except AccessDenied as exc:  # a column the role may not see
                out[panel] = {"denied": str(exc)}
            except InvalidArgument as exc:  # the table is not there yet
                out[panel] = {"rows": [], "note": str(exc)}
        if name == "fraud":
            out |= out.pop("fraud")
        with self._lock:
            self._cache[key] = (time.monotonic(), out)
        return out

    def _query(self, sql: str, principal: Principal) -> list[dict[str, Any]]:
        from ray_platform.warehouse import sql as wsql

        timeout = self.settings.api_query_timeout_s
        return rows(wsql.query(sql, self.settings, principal, timeout_s=timeout))

    def _sql(self, panel: str, principal: Principal) -> dict[str, Any]:
        return {"rows": self._query(SQL[panel], principal)}

    def _fraud(self, principal: Principal) -> dict[str, Any]:
        got = self.feed.records()
        alerts = {a["transaction_id"]: a for a in sorted(got.alerts, key=lambda a: a["ts_ms"])}
        labels: dict[str, int] = {}
        if alerts:
            ids = ", ".join("'" + i.replace("'", "''") + "'" for i in sorted(alerts))
            found = self._query(
                f"SELECT transaction_id, is_fraud FROM {LABELS} WHERE transaction_id IN ({ids})",
                principal,
            )
            labels = {
                r["transaction_id"]: r["is_fraud"] for r in found if r["is_fraud"] is not None
            }
        reviewed = [a for a in alerts if a in labels]
        true_alerts = sum(1 for a in reviewed if int(labels[a]) == 1)
        queue = sorted(
            (a for i, a in alerts.items() if a["decision"] == "review" and i not in labels),
            key=lambda a: -a["fraud_probability"],
        )
        newest = max(got.scores, key=lambda s: s["ts_ms"], default=None)
        return {
            "source": {
                "scores_topic": self.feed.scores_topic,
                "alerts_topic": self.feed.alerts_topic,
                "labels": f"{LABELS}.is_fraud",
                "error": got.error,
            },
            "alerts_per_hour": _per_hour(list(alerts.values())),
            "review_queue": {"size": len(queue), "top": queue[:15]},
            "model": self.feed.model_version(newest["model_version"] if newest else None),
            "precision": {
                "reviewed": len(reviewed),
                "fraud": true_alerts,
                "value": round(true_alerts / len(reviewed), 4) if reviewed else None,
            },
            "score_distribution": _histogram([s["fraud_probability"] for s in got.scores]),
        }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _per_hour(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for a in alerts:
        hour = dt.datetime.fromtimestamp(a["ts_ms"] / 1000, dt.UTC).replace(
            minute=0, second=0, microsecond=0
        )
        key = hour.isoformat()
        counts[key] = counts.get(key, 0) + 1
    return [{"hour": h, "alerts": n} for h, n in sorted(counts.items())[-24:]]


def _histogram(probabilities: list[float]) -> list[dict[str, Any]]:
    counts = [0] * SCORE_BINS
    for p in probabilities:
        counts[min(SCORE_BINS - 1, max(0, int(p * SCORE_BINS)))] += 1
    return [
        {"low": i / SCORE_BINS, "high": (i + 1) / SCORE_BINS, "count": c}
        for i, c in enumerate(counts)
    ]
