"""The main job on the embedded defaults: what ``make demo`` and ``gbank demo`` run.

Each step is a plain function that takes the shared :class:`DemoContext` and returns a line for
the summary; later capabilities add their steps to :data:`STEPS`. Services the demo starts are
left running so the user can look at them (``gbank kafka stop`` and ``gbank cluster down`` stop
them).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from ray_platform.settings import Settings, get_settings


@dataclass
class DemoOptions:
    """What the demo generates."""

    customers: int = 20_000
    days: int = 30
    start_date: date = date(2026, 1, 5)
    seed: int = 42
    bad_rate: float = 0.01
    kafka_sample: int = 2_000
    scoring_transactions: int = 3_000


@dataclass
class DemoContext:
    """State the steps share: settings, options and what earlier steps produced."""

    settings: Settings
    options: DemoOptions
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def dates(self) -> list[date]:
        """Every business date the demo generated."""
        o = self.options
        return [o.start_date + timedelta(days=i) for i in range(o.days)]


def start_kafka(ctx: DemoContext) -> str:
    """Start the local KRaft broker and create the platform's topics."""
    from ray_platform.services.kafka import PLATFORM_TOPICS, KafkaBroker

    broker = KafkaBroker(ctx.settings)
    broker.start()
    topics = broker.topics()
    ours = ", ".join(f"{t} ({topics[t]})" for t in PLATFORM_TOPICS if t in topics)
    return f"Kafka broker up at {ctx.settings.kafka_bootstrap}; topics (partitions): {ours}"


def start_ray(ctx: DemoContext) -> str:
    """Start the local two-node Ray cluster, with Ray Serve's HAProxy ingress enabled.

    The ingress flags are read when Ray's processes start (``serve/ingress.py``), so they go
    into the environment before the nodes start; the fraud-scoring step then serves HTTP through
    HAProxy rather than Ray's Python proxy.
    """
    from ray_platform.services.ray_cluster import LocalRayCluster
    from serve import ingress

    haproxy = ingress.ensure_haproxy()
    ingress.export()
    cluster = LocalRayCluster(ctx.settings)
    cluster.start()
    return f"Ray cluster up: {cluster.status().alive_nodes} nodes (Serve ingress: {haproxy})"


def generate(ctx: DemoContext) -> str:
    """Write a synthetic bank's raw feeds into the landing zone."""
    from ray_platform.generator import GeneratorConfig, generate_bank

    o = ctx.options
    config = GeneratorConfig(
        customers=o.customers,
        days=o.days,
        start_date=o.start_date,
        seed=o.seed,
        bad_rate=o.bad_rate,
    )
    report = generate_bank(ctx.settings.landing_uri, config)
    ctx.facts["generation"] = report
    return (
        f"generated {len(report.files)} files, {sum(report.records.values()):,} good records "
        f"({report.card_transactions:,} card transactions, {report.fraud_transactions:,} fraud), "
        f"{report.bad_records:,} bad records listed in _manifest/bad_records.jsonl"
    )


def kafka_round_trip(ctx: DemoContext) -> str:
    """Produce a sample of the first day's card transactions and consume them back.

    The lake job later lands the same records from the topic; they match the first day's file
    and are counted as redeliveries, not loaded twice.
    """
    from ray_platform.storage import storage_for
    from ray_platform.streaming import end_offsets, produce, read_from

    landing = storage_for(ctx.settings.landing_uri, ctx.settings.s3_endpoint_url)
    day = ctx.dates[0].isoformat()
    with landing.open(f"cards/{day}/card_transactions.jsonl", "rb") as f:
        lines = [ln.rstrip(b"\n") for ln in itertools.islice(f, ctx.options.kafka_sample)]
    records = [(_card_key(ln), ln) for ln in lines]
    # Read back from where the topic ended before this send, whatever earlier runs left there.
    start = end_offsets("transactions", ctx.settings)
    sent = produce("transactions", records, ctx.settings)
    got = read_from("transactions", start, sent, 60, ctx.settings)
    sample = {m.value for m in got}
    missing = sum(1 for _, v in records if v not in sample)
    return f"Kafka round trip: produced {sent} transactions, consumed {len(got)}, missing {missing}"


def _card_key(line: bytes) -> bytes | None:
    # The feed carries malformed lines on purpose; they travel unkeyed, like a real producer's.
    try:
        return str(json.loads(line).get("card_id")).encode()
    except (ValueError, AttributeError):
        return None


def ray_smoke_job(ctx: DemoContext) -> str:
    """Submit the smoke job through the job-submission API, as `ray job submit` does."""
    from ray_platform.services.jobs import submit_job

    run = submit_job("ray_platform.jobs.smoke", settings=ctx.settings, timeout_s=600)
    result = run.result or {}
    return (
        f"Ray job {run.submission_id} {run.status} in {run.seconds:.0f}s "
        f"on {result.get('nodes_answered')} nodes"
    )


def lake_etl(ctx: DemoContext) -> str:
    """Run the daily lake job over every generated date, as one backfill job."""
    from ray_platform.services.jobs import submit_job

    first, last = ctx.dates[0].isoformat(), ctx.dates[-1].isoformat()
    run = submit_job(
        "ray_platform.jobs.lake_etl", "--date", first, "--end", last, settings=ctx.settings
    )
    days = (run.result or {}).get("days", [])
    tables: dict[str, dict[str, int]] = {}
    for day in days:  # type: ignore[union-attr]
        for name, counts in day["silver"].items():
            total = tables.setdefault(name, dict.fromkeys(counts, 0))
            for k, v in counts.items():
                total[k] += v
    ctx.facts["lake"] = tables
    tx = tables.get("card_transactions", {})
    quarantined = sum(t["quarantined"] for t in tables.values())
    return (
        f"lake_etl {first}..{last} {run.status} in {run.seconds:.0f}s: "
        f"{tx.get('written', 0):,} card transactions in silver, {quarantined:,} records "
        f"quarantined, {tx.get('duplicates_dropped', 0):,} redeliveries dropped"
    )


def warehouse_load(ctx: DemoContext) -> str:
    """Load the star schema for every generated date (one job, incremental per date)."""
    from ray_platform.services.jobs import submit_job

    first, last = ctx.dates[0].isoformat(), ctx.dates[-1].isoformat()
    run = submit_job(
        "ray_platform.jobs.warehouse_load", "--date", first, "--end", last, settings=ctx.settings
    )
    from ray_platform.warehouse import query

    counts = query(
        "SELECT (SELECT count(*) FROM warehouse.fact_transactions) AS transactions, "
        "(SELECT count(*) FROM warehouse.fact_trades) AS trades, "
        "(SELECT count(*) FROM warehouse.dim_customer) AS customer_versions",
        ctx.settings,
    ).to_pylist()[0]
    listed = ", ".join(f"{n:,} {t}" for t, n in counts.items())
    return (
        f"warehouse_load {first}..{last} {run.status} in {run.seconds:.0f}s, reconciled with "
        f"silver: {listed}; try `gbank sql --saved top_customers_by_spend`"
    )


def fraud_features(ctx: DemoContext) -> str:
    """Compute the fraud features from silver, apply the Feast repo, materialise online."""
    from ray_platform.services.jobs import submit_job

    first, last = ctx.dates[0].isoformat(), ctx.dates[-1].isoformat()
    run = submit_job(
        "ray_platform.jobs.features", "--date", last, "--start", first, settings=ctx.settings
    )
    r = run.result or {}
    rows = ", ".join(f"{k} {v:,}" for k, v in r.get("rows", {}).items())
    return f"features {run.status} in {run.seconds:.0f}s into {r.get('online_store')}: {rows}"


def fraud_retrain(ctx: DemoContext) -> str:
    """Retrain the fraud model on Ray Train, register it, and run the promotion gate."""
    from ray_platform.services.jobs import submit_job

    last = ctx.dates[-1].isoformat()
    run = submit_job("ray_platform.jobs.fraud_retrain", "--date", last, settings=ctx.settings)
    r = run.result or {}
    m = r.get("metrics", {})
    verdict = "promoted to champion" if r.get("promoted") else "not promoted"
    return (
        f"fraud-xgb v{r.get('version')} ({r.get('engine')}, {r.get('train_seconds')}s) {verdict}; "
        f"held-out week: PR-AUC {m.get('pr_auc', float('nan')):.3f}, recall@0.1%FPR "
        f"{m.get('recall_at_0_1pct_fpr', float('nan')):.3f}; see `gbank mlflow-ui`"
    )


def risk_nightly(ctx: DemoContext) -> str:
    """Run the nightly risk job for the last generated business day (a weekday)."""
    from ray_platform.services.jobs import submit_job

    as_of = max(d for d in ctx.dates if d.weekday() < 5).isoformat()
    run = submit_job("ray_platform.jobs.risk_nightly", "--date", as_of, settings=ctx.settings)
    r = run.result or {}
    var = r.get("var_99_1d", {})
    figures = ", ".join(f"{m} {v:,.0f}" for m, v in var.items() if v is not None)
    return (
        f"risk_nightly {as_of} {run.status} in {run.seconds:.0f}s: firm 1-day 99% VaR "
        f"({r.get('currency')}) {figures}; {r.get('unpriced_positions')} unpriced positions"
    )


def daily_reports(ctx: DemoContext) -> str:
    """Produce the regulatory reports (Basel III, MiFID II, SOX) for the risk date."""
    from ray_platform.services.jobs import submit_job

    as_of = max(d for d in ctx.dates if d.weekday() < 5).isoformat()
    run = submit_job("ray_platform.jobs.reports_daily", "--date", as_of, settings=ctx.settings)
    r = run.result or {}
    parts = [f"{n} {v['status']} {v['seconds']:.1f}s" for n, v in r.get("reports", {}).items()]
    where = f"{ctx.settings.lake_uri}/reports/<name>/{as_of}/summary.html"
    return f"reports {as_of}: {', '.join(parts)}; see {where}"


def fraud_scoring(ctx: DemoContext) -> str:
    """Deploy the fraud service, score over HTTP and a Kafka stream, and print the alerts."""
    from serve.demo import run

    r = run(transactions=ctx.options.scoring_transactions, settings=ctx.settings)
    return (
        f"HTTP client latency {r['http_latency_ms']} ms; Kafka {r['kafka_scored']} scored, "
        f"{r['kafka_alerts']} alerts, produce->result {r['kafka_produce_to_result_ms']} ms; "
        "POST http://127.0.0.1:8000/fraud/score"
    )


Step = Callable[[DemoContext], str]
STEPS: list[tuple[str, Step]] = [
    ("start Kafka", start_kafka),
    ("start Ray", start_ray),
    ("generate bank", generate),
    ("Kafka round trip", kafka_round_trip),
    ("Ray job", ray_smoke_job),
    ("lake ETL", lake_etl),
    ("warehouse load", warehouse_load),
    ("fraud features", fraud_features),
    ("fraud retrain", fraud_retrain),
    ("fraud scoring", fraud_scoring),
    ("risk nightly", risk_nightly),
    ("daily reports", daily_reports),
]


def run_demo(
    options: DemoOptions | None = None,
    settings: Settings | None = None,
    echo: Callable[[str], None] = print,
) -> DemoContext:
    """Run every step in order, echoing progress, then the summary of where to look."""
    ctx = DemoContext(settings or get_settings(), options or DemoOptions())
    lines = []
    for name, step in STEPS:
        echo(f"==> {name}")
        started = time.monotonic()
        line = step(ctx)
        lines.append(f"  {name:<18} {time.monotonic() - started:6.1f}s  {line}")
        echo(lines[-1])
    s = ctx.settings
    echo("\nGlobalBank demo finished.\n" + "\n".join(lines))
    echo(
        "\nWhere to look:\n"
        f"  Ray dashboard     {s.ray_dashboard_url}\n"
        f"  Landing zone      {s.landing_uri}\n"
        f"  Lake              {s.lake_uri}  (gbank lineage gold/daily_merchant_stats)\n"
        f"  Kafka             {s.kafka_bootstrap}  (gbank kafka topics)\n"
        "  Fraud scoring     POST http://127.0.0.1:8000/fraud/score  (gbank serve status)\n"
        "  Stop services     gbank kafka stop && gbank cluster down"
    )
    return ctx
