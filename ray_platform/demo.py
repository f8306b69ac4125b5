"""The main job on the embedded defaults: what ``make demo`` and ``gbank demo`` run.

Each step is a plain function that takes the shared :class:`DemoContext` and returns a line for
the summary; later capabilities add their steps to :data:`STEPS`. Services the demo starts are
left running so the user can look at them (``gbank kafka stop``, ``gbank registry stop`` and
``gbank cluster down`` stop them).
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


def start_registry(ctx: DemoContext) -> str:
    """Start the schema registry that governs the Avro card-transaction topic."""
    from ray_platform.services.registry import SchemaRegistry

    registry = SchemaRegistry(ctx.settings)
    started = registry.start()
    how = "started" if started else "already running"
    return f"schema registry {how} at {registry.ccompat_url} (built from Maven Central once)"


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
    """Produce a sample of the first day's card transactions as Avro and consume them back.

    Records that fit the card schema go as Avro to ``transactions``; the feed's deliberately
    malformed lines go as they are to ``transactions.json``. Reading back decodes each Avro value
    by its schema id and compares it with the line it came from. The lake job later lands both
    topics; their records match the first day's file and are counted as redeliveries, not
    loaded twice, and the malformed ones are quarantined with their reasons.
    """
    from ray_platform.avro_codec import decode_any
    from ray_platform.storage import storage_for
    from ray_platform.streaming import (
        CARD_JSON_TOPIC,
        CARD_TOPIC,
        end_offsets,
        produce_card_transactions,
        read_from,
    )

    s = ctx.settings
    landing = storage_for(s.landing_uri, s.s3_endpoint_url)
    day = ctx.dates[0].isoformat()
    with landing.open(f"cards/{day}/card_transactions.jsonl", "rb") as f:
        lines = [ln.rstrip(b"\n") for ln in itertools.islice(f, ctx.options.kafka_sample)]
    # Read back from where each topic ended before this send, whatever earlier runs left there.
    start = {t: end_offsets(t, s) for t in (CARD_TOPIC, CARD_JSON_TOPIC)}
    sent = produce_card_transactions(lines, s)
    avro = read_from(CARD_TOPIC, start[CARD_TOPIC], sent.avro, 60, s)
    plain = read_from(CARD_JSON_TOPIC, start[CARD_JSON_TOPIC], sent.json, 60, s)
    back = {_canonical(decode_any(m.value, s)) for m in avro} | {m.value for m in plain}
    missing = sum(1 for ln in lines if ln not in back and _canonical_line(ln) not in back)
    return (
        f"Kafka round trip: {sent.avro} transactions as Avro (schema id {sent.schema_id}) to "
        f"'{CARD_TOPIC}', {sent.json} malformed lines as JSON to '{CARD_JSON_TOPIC}'; consumed "
        f"{len(avro) + len(plain)}, missing {missing}"
    )


def _canonical(record: dict) -> bytes:
    # Avro turns an absent optional field into null: compare without nulls, keys sorted.
    kept = {k: v for k, v in record.items() if v is not None}
    return json.dumps(kept, sort_keys=True).encode()


def _canonical_line(line: bytes) -> bytes | None:
    from ray_platform.streaming import json_object

    record = json_object(line)
    return _canonical(record) if record is not None else None


def ray_smoke_job(ctx: DemoContext) -> str:
    """Submit the smoke job through the job-submission API, as `ray job submit` does."""
    from ray_platform.services.jobs import submit_job

    run = submit_job("ray_platform.jobs.smoke", settings=ctx.settings, timeout_s=600)
    result = run.result or {}
    return (
        f"Ray job {run.submission_id} {run.status} in {run.seconds:.0f}s "
        f"on {result.get('nodes_answered')} nodes"
    )


def dag_backfill(ctx: DemoContext) -> str:
    """The daily DAG up to the warehouse for every date but the last: ``gbank backfill``."""
    from ray_platform.ops.backfill import submit_backfill
    from ray_platform.warehouse import query

    if len(ctx.dates) < 2:
        return "one business date: nothing to backfill before it"
    first, before_last = ctx.dates[0], ctx.dates[-2]
    run = submit_backfill(first, before_last, ctx.settings, to_step="warehouse")
    days = (run.result or {}).get("days", [])  # type: ignore[attr-defined]
    ok = sum(1 for d in days if d["ok"])
    silver = sum(d["rows"].get("silver", 0) or 0 for d in days)
    counts = query(
        "SELECT (SELECT count(*) FROM warehouse.fact_transactions) AS transactions, "
        "(SELECT count(*) FROM warehouse.dim_customer) AS customer_versions",
        ctx.settings,
    ).to_pylist()[0]
    return (
        f"daily DAG {first}..{before_last} --to warehouse {run.status} in {run.seconds:.0f}s: "  # type: ignore[attr-defined]
        f"{ok}/{len(days)} dates ok, {silver:,} rows into silver, warehouse "
        f"{counts['transactions']:,} transactions, {counts['customer_versions']:,} customer "
        "versions (SCD2); `gbank status`"
    )


def fraud_features(ctx: DemoContext) -> str:
    """The fraud feature tables for the backfilled dates: the retrain's training window."""
    from ray_platform.services.jobs import submit_job

    if len(ctx.dates) < 2:
        return "one business date: its features are the daily DAG's"
    first, before_last = ctx.dates[0].isoformat(), ctx.dates[-2].isoformat()
    run = submit_job(
        "ray_platform.jobs.features", "--date", before_last, "--start", first,
        settings=ctx.settings,
    )  # fmt: skip
    r = run.result or {}
    rows = ", ".join(f"{k} {v:,}" for k, v in r.get("rows", {}).items())
    return f"features {run.status} in {run.seconds:.0f}s into {r.get('online_store')}: {rows}"


def daily_dag(ctx: DemoContext) -> str:
    """The whole daily DAG for the last date as one Ray job, as the nightly schedule runs it.

    Ingest, silver, gold, warehouse, risk, reports, feature materialisation, retrain and the
    promotion gate. The demo's dates are long past, so the 06:00 reports SLA is not checked
    (``--no-sla``): every region would alert.
    """
    from ray_platform.ops import RunLog
    from ray_platform.services.jobs import submit_job
    from ray_platform.tables import table_store
    from ray_platform.warehouse import query

    day = ctx.dates[-1]
    run = submit_job("ray_platform.jobs.daily", "--date", day.isoformat(), "--no-sla",
                     settings=ctx.settings, timeout_s=3600)  # fmt: skip
    (result,) = (run.result or {}).get("days", [{}])
    steps = ", ".join(f"{n} {st}" for n, st in result.get("steps", {}).items())
    retrained = RunLog(table_store(ctx.settings)).latest(day).get("retrain")
    model = retrained.detail if retrained is not None else {}
    var = query(
        'SELECT method, "window" AS days, var, currency FROM warehouse.fact_risk_metrics WHERE '
        f"as_of = DATE '{day}' AND scope = 'firm' AND confidence = 0.99 AND horizon_days = 1 "
        "ORDER BY method, days",
        ctx.settings,
    ).to_pylist()
    figures = ", ".join(
        f"{r['method']}{_window(r['days'])} {r['var']:,.0f} {r['currency']}" for r in var
    )
    verdict = "promoted to champion" if model.get("promoted") else "not promoted"
    where = f"{ctx.settings.lake_uri}/reports/<name>/{day}/summary.html"
    return (
        f"daily DAG {day} {run.status} in {run.seconds:.0f}s: {steps}; firm 1-day 99% VaR "
        f"{figures or 'n/a'}; fraud-xgb v{model.get('version')} {verdict}; reports in {where}"
    )


def _window(days: int | None) -> str:
    # Historical VaR is run on two windows; name each so the two figures read apart.
    return f" ({days}d)" if days else ""


def fraud_scoring(ctx: DemoContext) -> str:
    """Deploy the fraud service, score over HTTP and a Kafka stream, and print the alerts."""
    from serve.demo import run

    r = run(transactions=ctx.options.scoring_transactions, settings=ctx.settings)
    return (
        f"HTTP client latency {r['http_latency_ms']} ms; Kafka {r['kafka_scored']} scored, "
        f"{r['kafka_alerts']} alerts, produce->result {r['kafka_produce_to_result_ms']} ms; "
        "POST http://127.0.0.1:8000/fraud/score"
    )


def query_api(ctx: DemoContext) -> str:
    """Start the query API and dashboard as their own process (left running, like Kafka)."""
    from ray_platform.api import start_detached

    url = start_detached(ctx.settings)
    ctx.facts["dashboard"] = url
    return (
        f"query API and dashboard at {url} (OpenAPI {url}/openapi.json); sign in after "
        "`gbank auth add-user NAME --role ROLE`"
    )


Step = Callable[[DemoContext], str]
STEPS: list[tuple[str, Step]] = [
    ("start Kafka", start_kafka),
    ("start registry", start_registry),
    ("start Ray", start_ray),
    ("generate bank", generate),
    ("Kafka round trip", kafka_round_trip),
    ("Ray job", ray_smoke_job),
    ("daily DAG backfill", dag_backfill),
    ("fraud features", fraud_features),
    ("daily DAG", daily_dag),
    ("fraud scoring", fraud_scoring),
    ("query API", query_api),
]


def run_demo(
    options: DemoOptions | None = None,
    settings: Settings | None = None,
    echo: Callable[[str], None] = print,
) -> DemoContext:
    """Run every step in order, echoing progress, then the summary of where to look."""
    from ray_platform.avro_codec import CCOMPAT_PATH

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
        f"  Schema registry   {s.schema_registry_url}{CCOMPAT_PATH}/subjects\n"
        "  Fraud scoring     POST http://127.0.0.1:8000/fraud/score  (gbank serve status)\n"
        f"  Dashboard         {ctx.facts.get('dashboard', 'not started')}  (gbank api --stop)\n"
        "  Stop services     gbank kafka stop && gbank registry stop && gbank cluster down"
    )
    return ctx
