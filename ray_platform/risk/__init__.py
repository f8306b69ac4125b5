"""Market risk: VaR, Expected Shortfall, stress tests and backtesting on Ray.

The public surface is re-exported here; the modules beside it are the engine's parts
(``data`` is the only one that reads the lake). ``docs/risk.md`` describes the methods.
"""

from __future__ import annotations

# Re-exported so callers import the public surface from the package, not its modules.
from ray_platform.risk.backtest import BacktestResult as BacktestResult
from ray_platform.risk.backtest import backtest as backtest
from ray_platform.risk.backtest import kupiec_pof as kupiec_pof
from ray_platform.risk.backtest import traffic_light as traffic_light
from ray_platform.risk.data import MarketData as MarketData
from ray_platform.risk.data import Portfolio as Portfolio
from ray_platform.risk.data import load_market as load_market
from ray_platform.risk.data import load_portfolio as load_portfolio
from ray_platform.risk.engine import EngineConfig as EngineConfig
from ray_platform.risk.engine import RiskRun as RiskRun
from ray_platform.risk.engine import run_risk as run_risk
from ray_platform.risk.montecarlo import MCSpec as MCSpec
from ray_platform.risk.stress import load_scenarios as load_scenarios

__all__ = [
    "BacktestResult",
    "EngineConfig",
    "MCSpec",
    "MarketData",
    "Portfolio",
    "RiskRun",
    "backtest",
    "kupiec_pof",
    "load_market",
    "load_portfolio",
    "load_scenarios",
    "run_risk",
    "traffic_light",
]
