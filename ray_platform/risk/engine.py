"""The risk engine: every measure for one business date, as tidy Arrow tables.

:func:`run_risk` builds the factor panel (with the missing-price rule), compiles the
portfolio, then computes historical, parametric (EWMA and equal-weight) and Monte Carlo
(normal and Student-t) VaR and ES at each confidence and horizon, per desk and firm-wide with
component VaR; the stress scenarios; and the backtests. Monte Carlo blocks run as Ray tasks
when Ray is initialised, else in this process (see :mod:`.montecarlo`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ray_platform.risk.backtest import backtest as run_backtest
from ray_platform.risk.covariance import equal_weight_covariance, ewma_covariance, nearest_pd
from ray_platform.risk.data import MarketData, Portfolio
from ray_platform.risk.factors import build_panel
from ray_platform.risk.historical import historical_pnl
from ray_platform.risk.measures import RiskFigures, from_sample, parametric
from ray_platform.risk.montecarlo import MCSpec, simulate
from ray_platform.risk.parametric import sensitivities
from ray_platform.risk.pricing import DEFAULT_CURVE_PROXY, compile_model, needed_factors
from ray_platform.risk.stress import load_scenarios, run_stress

METRICS_SCHEMA = pa.schema(
    [
        ("as_of", pa.date32()),
        ("scope", pa.string()),
        ("desk", pa.string()),
        ("method", pa.string()),
        ("confidence", pa.float64()),
        ("horizon_days", pa.int32()),
        ("horizon_method", pa.string()),
        ("var", pa.float64()),
        ("es", pa.float64()),
        ("component_var", pa.float64()),
        ("currency", pa.string()),
        ("paths", pa.int64()),
        ("window", pa.int32()),
        ("run_id", pa.string()),
    ]
)
STRESS_SCHEMA = pa.schema(
    [
        ("as_of", pa.date32()),
        ("scenario", pa.string()),
        ("scenario_type", pa.string()),
        ("scope", pa.string()),
        ("desk", pa.string()),
        ("pnl", pa.float64()),
        ("currency", pa.string()),
        ("run_id", pa.string()),
    ]
)
BACKTEST_SCHEMA = pa.schema(
    [
        ("as_of", pa.date32()),
        ("scope", pa.string()),
        ("desk", pa.string()),
        ("method", pa.string()),
        ("confidence", pa.float64()),
        ("days", pa.int32()),
        ("exceptions", pa.int32()),
        ("exception_rate", pa.float64()),
        ("kupiec_lr", pa.float64()),
        ("kupiec_p", pa.float64()),
        ("christoffersen_lr", pa.float64()),
        ("christoffersen_p", pa.float64()),
        ("cc_lr", pa.float64()),
        ("cc_p", pa.float64()),
        ("zone", pa.string()),
        ("plus_factor", pa.float64()),
        ("run_id", pa.string()),
    ]
)
UNPRICED_SCHEMA = pa.schema(
    [
        ("as_of", pa.date32()),
        ("desk", pa.string()),
        ("isin", pa.string()),
        ("quantity", pa.float64()),
        ("asset_class", pa.string()),
        ("reason", pa.string()),
        ("run_id", pa.string()),
    ]
)
ISSUES_SCHEMA = pa.schema(
    [
        ("as_of", pa.date32()),
        ("factor", pa.string()),
        ("kind", pa.string()),
        ("date", pa.date32()),
        ("detail", pa.string()),
        ("run_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class EngineConfig:
    """What the nightly run computes."""

    confidences: tuple[float, ...] = (0.99, 0.975)
    windows: tuple[int, ...] = (250, 500)
    horizon: int = 10
    ewma_lambda: float = 0.94
    max_stale_days: int = 5
    mc: MCSpec = field(default_factory=MCSpec)
    scenarios_path: str | None = None
    backtest_days: int = 250
    backtest_window: int = 250
    curve_proxy: dict[str, str] | None = None


@dataclass
class RiskRun:
    """Everything one run produced."""

    metrics: pa.Table
    stress: pa.Table
    backtests: pa.Table
    unpriced: pa.Table
    issues: pa.Table
    report: dict[str, Any]


def run_risk(
    portfolio: Portfolio,
    market: MarketData,
    config: EngineConfig | None = None,
    run_id: str = "adhoc",
    workers: int | None = None,
    use_ray: bool | None = None,
) -> RiskRun:
    """Compute every measure for ``portfolio.as_of``."""
    cfg = config or EngineConfig()
    as_of = portfolio.as_of
    ccy = market.base_currency
    observations = max(max(cfg.windows), cfg.backtest_window + cfg.backtest_days) + 1
    proxy = DEFAULT_CURVE_PROXY if cfg.curve_proxy is None else cfg.curve_proxy
    panel = build_panel(
        market, needed_factors(portfolio, market, proxy), observations, cfg.max_stale_days
    )
    model = compile_model(portfolio, market, panel, proxy, cfg.max_stale_days)
    desks = model.desks
    rows: list[dict[str, Any]] = []

    def emit(method, fig: RiskFigures, h, h_method, paths=None, window=None) -> None:
        base = {"as_of": as_of, "method": method, "confidence": fig.confidence,
                "horizon_days": h, "horizon_method": h_method, "currency": ccy,
                "paths": paths, "window": window, "run_id": run_id}  # fmt: skip
        rows.append({**base, "scope": "firm", "desk": None, "var": fig.var, "es": fig.es,
                     "component_var": fig.var})  # fmt: skip
        for d, desk in enumerate(desks):
            rows.append({**base, "scope": "desk", "desk": desk, "var": float(fig.desk_var[d]),
                         "es": float(fig.desk_es[d]),
                         "component_var": float(fig.component_var[d])})  # fmt: skip

    h, root_h = cfg.horizon, math.sqrt(cfg.horizon)
    n_moves = len(panel.dates) - 1
    report: dict[str, Any] = {"factors": len(panel.names), "observations": len(panel.dates),
                              "instruments_priced": model.n_instruments, "positions_unpriced":
                              len(model.unpriced), "notes": list(model.notes)}  # fmt: skip
    if n_moves < max(h + 1, 20):
        raise_short(n_moves)
    # historical simulation
    for w in cfg.windows:
        used = min(w, n_moves)
        p1 = historical_pnl(model, panel, w, 1)
        ph = historical_pnl(model, panel, w, h)
        for c in cfg.confidences:
            f1 = from_sample(p1, c)
            emit("historical", f1, 1, "n/a", None, used)
            emit("historical", from_sample(ph, c), h, "overlapping", None, used)
            emit("historical", f1.scaled(root_h), h, "sqrt_time", None, used)
        if used < w:
            report["notes"].append(f"historical window {w} shortened to {used} daily moves")
    # parametric (delta-normal)
    delta = sensitivities(model)
    moves = panel.moves(1)
    ewma = ewma_covariance(moves[-max(cfg.windows) :], cfg.ewma_lambda)
    covs = [("parametric_ewma", ewma, min(max(cfg.windows), n_moves))]
    covs += [
        ("parametric_equal", equal_weight_covariance(moves[-w:]), min(w, n_moves))
        for w in cfg.windows
    ]
    for method, cov, used in covs:
        for c in cfg.confidences:
            f1 = parametric(delta, cov, c)
            emit(method, f1, 1, "n/a", None, used)
            emit(method, f1.scaled(root_h), h, "sqrt_time", None, used)
    # Monte Carlo on the (repaired) EWMA covariance
    cov_pd, repair = nearest_pd(ewma)
    report["covariance"] = repair.summary()
    report["covariance_repaired"] = repair.repaired
    chol = np.linalg.cholesky(cov_pd) if cov_pd.size else np.zeros((0, 0))
    spec = cfg.mc if h in cfg.mc.horizons else MCSpec(**{**cfg.mc.__dict__, "horizons": (1, h)})
    mc = simulate(model, chol, spec, workers=workers, use_ray=use_ray)
    report["monte_carlo"] = mc.stats
    for (dist, mh), pnl in sorted(mc.pnl.items()):
        for c in cfg.confidences:
            fig = from_sample(pnl, c)
            emit(f"mc_{dist}", fig, mh, "n/a" if mh == 1 else "full_revaluation", spec.paths, None)
            if mh == 1:
                emit(f"mc_{dist}", fig.scaled(root_h), h, "sqrt_time", spec.paths, None)
    # stress
    instruments = {r["isin"]: r for r in portfolio.instruments.to_pylist()}
    scenarios = load_scenarios(cfg.scenarios_path)
    stress_rows = [{**r, "as_of": as_of, "currency": ccy, "run_id": run_id}
                   for r in run_stress(model, scenarios, instruments)]  # fmt: skip
    # backtests on the hypothetical P&L of today's portfolio
    bt_rows, bt_note = _backtests(model, moves, cfg, as_of, run_id)
    if bt_note:
        report["notes"].append(bt_note)
    unpriced = [{"as_of": as_of, **u.__dict__, "run_id": run_id} for u in model.unpriced]
    issues = [{"as_of": as_of, **i.__dict__, "run_id": run_id} for i in panel.issues]
    report["market_data_issues"] = len(issues)
    return RiskRun(
        pa.Table.from_pylist(rows, METRICS_SCHEMA),
        pa.Table.from_pylist(stress_rows, STRESS_SCHEMA),
        pa.Table.from_pylist(bt_rows, BACKTEST_SCHEMA),
        pa.Table.from_pylist(unpriced, UNPRICED_SCHEMA),
        pa.Table.from_pylist(issues, ISSUES_SCHEMA),
        report,
    )


def raise_short(n_moves: int) -> None:
    """Refuse to compute risk on too little history."""
    from ray_platform.errors import DataQualityError

    raise DataQualityError(f"only {n_moves} daily factor moves of history; need at least 20")


def rolling_var(pnl: np.ndarray, window: int, days: int, confidence: float, lam: float):
    """One-day VaR forecasts for the last ``days`` of ``pnl``: historical and EWMA-normal."""
    from scipy.stats import norm

    n = pnl.size
    hist = np.empty(days)
    para = np.empty(days)
    z = float(norm.ppf(confidence))
    var_t = float(np.mean(pnl[n - days - window : n - days] ** 2))
    for k, t in enumerate(range(n - days, n)):
        past = pnl[t - window : t]
        hist[k] = float(np.quantile(-past, confidence, method="higher"))
        para[k] = z * math.sqrt(var_t)
        var_t = lam * var_t + (1 - lam) * pnl[t] ** 2
    return hist, para


def _backtests(model, moves, cfg: EngineConfig, as_of, run_id) -> tuple[list[dict], str | None]:
    pnl = np.asarray(model.pnl(moves))
    w, days = cfg.backtest_window, cfg.backtest_days
    note = None
    if pnl.shape[0] < w + days:
        days = pnl.shape[0] - w
        if days < 20:
            return [], f"backtest skipped: {pnl.shape[0]} daily moves, need {w + 20}"
        note = f"backtest over {days} days (history too short for {cfg.backtest_days})"
    series = [("firm", None, pnl.sum(axis=1))] + [
        ("desk", d, pnl[:, i]) for i, d in enumerate(model.desks)
    ]
    rows = []
    for c in cfg.confidences:
        for scope, desk, s in series:
            hist, para = rolling_var(s, w, days, c, cfg.ewma_lambda)
            for method, v in (("historical", hist), ("parametric_ewma", para)):
                r = run_backtest(v, s[-days:], c)
                rows.append(
                    {
                        "as_of": as_of,
                        "scope": scope,
                        "desk": desk,
                        "method": method,
                        **r.as_dict(),
                        "run_id": run_id,
                    }
                )
    return rows, note
