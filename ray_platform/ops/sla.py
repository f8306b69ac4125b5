"""The reports SLA: a business date's regulatory reports exist by 06:00 local time next morning.

Each region reads the reports at the start of its own day, so the deadline is 06:00 on the day
after the business date in the region's time zone: Asia/Singapore first (22:00 UTC), then
Europe/London (06:00 UTC, 05:00 in summer), then America/New_York (11:00 UTC). The reports'
completion time is the ``ended_at`` of the ``reports`` step's ``succeeded`` record, from this
run or an earlier one. A miss alerts once per date and region: a log line, and a JSON message on
the Kafka topic ``ops-alerts``; when the broker does not answer the alert is still logged and
the SLA record says ``alert_failed``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ray_platform.errors import ServiceError
from ray_platform.ops.runs import RunLog, StepRecord
from ray_platform.settings import Settings

log = logging.getLogger(__name__)

REGIONS: dict[str, str] = {
    "apac": "Asia/Singapore",
    "eu": "Europe/London",
    "us": "America/New_York",
}
DUE = dt.time(6, 0)
ALERT_TOPIC = "ops-alerts"
REPORTS_STEP = "reports"
SLA_STEP = "sla"


@dataclass(frozen=True)
class RegionSla:
    """One region's verdict for one business date."""

    region: str
    deadline: dt.datetime
    status: str  # met | missed | pending

    def as_dict(self) -> dict[str, str]:
        """JSON-ready."""
        return {"region": self.region, "deadline": self.deadline.isoformat(),
                "status": self.status}  # fmt: skip


def deadline(business_date: dt.date, region: str) -> dt.datetime:
    """06:00 local time in ``region`` on the day after ``business_date``."""
    day = business_date + dt.timedelta(days=1)
    return dt.datetime.combine(day, DUE, tzinfo=ZoneInfo(REGIONS[region]))


def evaluate(
    business_date: dt.date, reports_done_at: dt.datetime | None, now: dt.datetime
) -> list[RegionSla]:
    """Met (done by the deadline), missed (done late, or not done and past it) or pending."""
    out = []
    for region in REGIONS:
        due = deadline(business_date, region)
        if reports_done_at is not None:
            status = "met" if reports_done_at <= due else "missed"
        else:
            status = "missed" if now > due else "pending"
        out.append(RegionSla(region, due, status))
    return out


def kafka_alert(settings: Settings) -> Callable[[dict[str, object]], None]:
    """A sender that puts one JSON alert on :data:`ALERT_TOPIC`; raises ServiceError if it can't."""

    def send(alert: dict[str, object]) -> None:
        from kafka.errors import KafkaError

        from ray_platform.streaming import producer

        try:
            with producer(settings, max_block_ms=10_000) as prod:
                key = f"{alert['business_date']}/{alert['region']}".encode()
                value = json.dumps(alert, sort_keys=True).encode()
                prod.send(ALERT_TOPIC, key=key, value=value).get(timeout=15)  # type: ignore[attr-defined]
        except KafkaError as exc:
            raise ServiceError(f"alert not delivered to {ALERT_TOPIC}: {exc}") from None

    return send


def _already_alerted(history: list[StepRecord]) -> set[str]:
    regions: set[str] = set()
    for r in history:
        if r.step == SLA_STEP:
            regions.update(str(x) for x in r.detail.get("alerted", []))  # type: ignore[union-attr]
    return regions


def check_sla(
    business_date: dt.date,
    run_id: str,
    runs: RunLog,
    *,
    now: dt.datetime,
    send: Callable[[dict[str, object]], None],
    metric: Callable[[float], None] | None = None,
) -> StepRecord:
    """Evaluate the SLA, alert each newly missed region, append and return the ``sla`` record.

    ``metric`` gets 1.0 when a region missed, 0.0 when every region met it (nothing while one
    is still pending): the ``gbank_dag_sla_missed`` gauge.
    """
    history = runs.records(business_date)
    done = [r for r in history if r.step == REPORTS_STEP and r.status == "succeeded"]
    done_at = min((r.ended_at for r in done if r.ended_at), default=None)
    verdicts = evaluate(business_date, done_at, now)
    missed = [v for v in verdicts if v.status == "missed"]
    new = [v for v in missed if v.region not in _already_alerted(history)]
    alerted, errors = [], []
    for v in new:
        alert = {
            "type": "dag_sla_missed",
            "business_date": business_date.isoformat(),
            "region": v.region,
            "deadline": v.deadline.isoformat(),
            "reports_done_at": done_at.isoformat() if done_at else None,
            "run_id": run_id,
            "detected_at": now.isoformat(),
        }
        log.warning("SLA MISSED: reports for %s not ready by %s (%s)", business_date,
                    v.deadline.isoformat(), v.region)  # fmt: skip
        try:
            send(alert)
            alerted.append(v.region)
        except ServiceError as exc:
            log.error("SLA alert for %s/%s not delivered: %s", business_date, v.region, exc)
            errors.append(f"{v.region}: {exc}")
    if metric is not None and (missed or all(v.status == "met" for v in verdicts)):
        metric(1.0 if missed else 0.0)
    if errors:
        status = "alert_failed"
    elif missed:
        status = "missed"
    elif any(v.status == "pending" for v in verdicts):
        status = "pending"
    else:
        status = "met"
    record = StepRecord(
        run_id=run_id,
        business_date=business_date,
        step=SLA_STEP,
        status=status,
        attempts=1,
        started_at=now,
        ended_at=now,
        error="; ".join(errors) or None,
        detail={
            "regions": [v.as_dict() for v in verdicts],
            "reports_done_at": done_at.isoformat() if done_at else None,
            "alerted": alerted,
        },
    )
    runs.append(record)
    return record
