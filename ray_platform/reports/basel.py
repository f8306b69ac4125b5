"""Basel III capital report for one business date (standardised approach for credit risk).

Exposure source: the synthetic core-banking feed carries accounts without balances, so the
credit exposures come from the bank's valued positions (``gold/positions_valued``) of the
date, classified by asset class and instrument (see :func:`basel_rules.classify_position`),
with the counterparty of OTC derivative positions taken from the latest trade in that ISIN
(``silver/trades`` + ``silver/counterparties``). Market-risk capital comes from the risk
engine's firm-wide VaR in ``gold/warehouse/fact_risk_metrics`` when that table exists; without
it, market risk is reported as not available and left out of RWA, with a note saying so.

Files: ``exposures.csv`` (one line per exposure), ``rwa_by_class.csv``, ``summary.json``,
``summary.html``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ray_platform.errors import ConfigError, NotFound
from ray_platform.lake import layout
from ray_platform.reports import basel_rules as rules
from ray_platform.reports._base import ReportContext, csv_text, load_config
from ray_platform.reports.html import Section

RISK_METRICS = layout.gold_table("warehouse/fact_risk_metrics")
BACKTESTS = layout.gold_table("warehouse/fact_backtests")

_EXPOSURE_COLUMNS = [
    "source",
    "desk",
    "isin",
    "asset_class",
    "exposure_class",
    "rating",
    "counterparty_lei",
    "ead",
    "risk_weight",
    "rwa",
]


def _positions(ctx: ReportContext) -> list[dict[str, Any]]:
    if not ctx.use(layout.gold_table("positions_valued"), "positions_valued"):
        raise NotFound("gold/positions_valued does not exist: run the lake for the date first")
    if not ctx.use(layout.silver_table("instruments"), "instruments"):
        raise NotFound("silver/instruments does not exist: run the lake first")
    if ctx.use(layout.silver_table("trades"), "trades"):
        cp = """SELECT isin, arg_max(counterparty_lei, execution_ts) AS lei FROM trades
                WHERE execution_ts < ($d + 1)::TIMESTAMPTZ GROUP BY isin"""
    else:
        cp = "SELECT NULL::VARCHAR AS isin, NULL::VARCHAR AS lei WHERE false"
    if ctx.use(layout.silver_table("counterparties"), "counterparties"):
        cps = "SELECT lei, type FROM counterparties"
    else:
        cps = "SELECT NULL::VARCHAR AS lei, NULL::VARCHAR AS type WHERE false"
    rows = ctx.sql(
        f"""
        WITH cp AS ({cp}), cps AS ({cps})
        SELECT p.desk, p.isin, p.asset_class, p.market_value_reporting::DOUBLE AS mv,
               p.priced, i.name AS instrument_name, i.country,
               cp.lei AS counterparty_lei, cps.type AS counterparty_type
        FROM positions_valued p
        LEFT JOIN instruments i ON i.isin = p.isin
        LEFT JOIN cp ON cp.isin = p.isin
        LEFT JOIN cps ON cps.lei = cp.lei
        WHERE p.business_date = $d
        ORDER BY p.desk, p.isin
        """,
        d=ctx.day,
    ).to_pylist()
    if not rows:
        raise NotFound(f"gold/positions_valued has no rows for {ctx.day}: run gold for the date")
    return rows


def _market_risk(ctx: ReportContext, cfg: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The market-risk capital figures, or None and the reason it is not available."""
    if not ctx.use(RISK_METRICS, "fact_risk_metrics"):
        return None, f"{RISK_METRICS} does not exist (the risk engine has not run)"
    rows = ctx.sql(
        """SELECT as_of, horizon_days, max(var) AS var, min(currency) AS ccy,
                  max(currency) AS ccy2
           FROM fact_risk_metrics
           WHERE scope = 'firm' AND method = $m AND confidence = $c AND as_of <= $d
             AND horizon_days IN (1, $h) AND var IS NOT NULL
           GROUP BY as_of, horizon_days ORDER BY as_of""",
        m=cfg["method"],
        c=float(cfg["confidence"]),
        d=ctx.day,
        h=int(cfg["horizon_days"]),
    ).to_pylist()
    if not rows:
        return None, (
            f"no firm-wide {cfg['method']} VaR at {cfg['confidence']:.0%} on or before "
            f"{ctx.day} in {RISK_METRICS}"
        )
    currencies = {r["ccy"] for r in rows} | {r["ccy2"] for r in rows}
    if currencies != {ctx.settings.reporting_currency}:
        return None, f"VaR currency {sorted(currencies)} is not {ctx.settings.reporting_currency}"
    h = int(cfg["horizon_days"])
    direct = [(r["as_of"], r["var"]) for r in rows if r["horizon_days"] == h]
    if direct:
        series, scaling = direct, f"{h}-day VaR as computed by the risk engine"
    else:
        series = [(r["as_of"], r["var"] * math.sqrt(h)) for r in rows if r["horizon_days"] == 1]
        scaling = f"1-day VaR scaled by sqrt({h})"
    plus, exceptions = 0.0, None
    if ctx.use(BACKTESTS, "fact_backtests"):
        bt = ctx.sql(
            """SELECT exceptions FROM fact_backtests
               WHERE scope = 'firm' AND method = $m AND confidence = $c AND as_of <= $d
               ORDER BY as_of DESC, days DESC LIMIT 1""",
            m=cfg["method"],
            c=float(cfg["confidence"]),
            d=ctx.day,
        ).to_pylist()
        if bt:
            exceptions = bt[0]["exceptions"]
            plus = rules.backtest_plus_factor(exceptions)
    figures = rules.market_risk_capital(
        series, float(cfg["multiplier"]), plus, int(cfg["average_days"])
    )
    figures |= {"scaling": scaling, "backtest_exceptions": exceptions, "method": cfg["method"]}
    return figures, ""


def by_class(exposures: list[rules.Exposure]) -> list[dict[str, Any]]:
    """EAD and RWA summed per (exposure class, rating bucket, risk weight)."""
    acc: dict[tuple[str, str, float], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for e in exposures:
        a = acc[(e.exposure_class, e.rating, e.risk_weight)]
        a[0] += 1
        a[1] += e.ead
        a[2] += e.rwa
    return [
        {
            "exposure_class": c,
            "rating": r,
            "risk_weight": w,
            "exposures": int(a[0]),
            "ead": round(a[1], 2),
            "rwa": round(a[2], 2),
        }
        for (c, r, w), a in sorted(acc.items())
    ]


def build(ctx: ReportContext) -> tuple[dict[str, Any], list[Section]]:
    """Compute the report, write its data files, return its summary and HTML sections."""
    weights, capital = load_config("risk_weights"), load_config("capital")
    if capital["currency"] != ctx.settings.reporting_currency:
        raise ConfigError(
            f"capital.yaml amounts are in {capital['currency']}, the reporting currency is "
            f"{ctx.settings.reporting_currency}"
        )
    positions = _positions(ctx)
    exposures = [e for r in positions if (e := rules.classify_position(r, weights))]
    unpriced = sum(1 for r in positions if not r["priced"])
    market, why_not = _market_risk(ctx, capital["market_risk"])
    figures = rules.capital_figures(exposures, market["capital"] if market else None, capital)
    classes = by_class(exposures)
    ctx.write(
        "exposures.csv",
        csv_text(
            [{**e.__dict__, "ead": round(e.ead, 2), "rwa": round(e.rwa, 2)} for e in exposures],
            _EXPOSURE_COLUMNS,
        ),
    )
    ctx.write("rwa_by_class.csv", csv_text(classes, list(classes[0]) if classes else ["none"]))
    notes = [
        "Credit exposures are derived from gold/positions_valued (long positions at market "
        "value; OTC derivatives by simplified SA-CCR); accounts carry no balances in the "
        "source data, so retail and mortgage classes have no exposure.",
        f"Own funds are configuration (capital.yaml): {capital['label']}.",
    ]
    if market is None:
        notes.append(f"Market-risk capital NOT AVAILABLE and excluded from RWA: {why_not}.")
    summary = {
        "currency": ctx.settings.reporting_currency,
        "positions": len(positions),
        "exposures": len(exposures),
        "unpriced_positions_excluded": unpriced,
        "by_class": classes,
        "market_risk": market if market else {"available": False, "reason": why_not},
        **figures,
        "risk_weight_source": weights["source"],
        "notes": notes,
    }
    return summary, _sections(summary)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def _sections(s: dict[str, Any]) -> list[Section]:
    ratio_rows = [
        [
            name.upper(),
            r["capital"],
            _pct(r["ratio"]),
            _pct(r["minimum"]),
            _pct(r["required_with_buffers"]),
            r["meets_with_buffers"],
        ]
        for name, r in s["ratios"].items()
    ]
    lev = s["leverage"]
    ratio_rows.append(
        [
            "Leverage (Tier 1 / exposure)",
            lev["tier1"],
            _pct(lev["ratio"]),
            _pct(lev["required"]),
            _pct(lev["required"]),
            lev["meets"],
        ]
    )
    m = s["market_risk"]
    mr_pairs = (
        [("Available", False), ("Reason", m["reason"])]
        if m.get("available") is False
        else [
            ("VaR method", m["method"]),
            ("Scaling", m["scaling"]),
            ("VaR t-1 (as of " + m["var_latest_as_of"] + ")", m["var_latest"]),
            (f"Average VaR ({m['average_days_used']} days)", m["var_average"]),
            ("m_c + plus factor", f"{m['multiplier']} + {m['plus_factor']}"),
            ("Market-risk capital", m["capital"]),
        ]
    )
    return [
        Section(
            "Capital ratios",
            columns=["Measure", "Capital", "Ratio", "Minimum", "With buffers", "Meets"],
            rows=ratio_rows,
        ),
        Section(
            f"Risk-weighted assets ({s['currency']})",
            pairs=[
                ("Credit RWA", s["credit_rwa"]),
                ("Market RWA (12.5 x capital)", s["market_rwa"]),
                ("Total RWA", s["total_rwa"]),
            ],
        ),
        Section(
            "Credit exposures by class (standardised approach)",
            columns=["Class", "Rating", "Risk weight", "Exposures", "EAD", "RWA"],
            rows=[
                [
                    c["exposure_class"],
                    c["rating"],
                    f"{c['risk_weight']:.0%}",
                    c["exposures"],
                    c["ead"],
                    c["rwa"],
                ]
                for c in s["by_class"]
            ],
        ),
        Section("Market risk (internal-models VaR)", pairs=mr_pairs),
        Section("Notes", notes=[*s["notes"], f"Risk weights: {s['risk_weight_source']}."]),
    ]
