"""Stress tests: scenarios as factor shocks, read from a YAML file a risk manager can edit.

The format is documented at the top of ``scenarios.yaml`` (the default file, beside this
module) and in ``docs/risk.md``. :func:`load_scenarios` validates the whole file and raises
:class:`~ray_platform.errors.ConfigError` naming the file, the scenario and the bad entry.
:func:`run_stress` revalues the portfolio in full under each scenario.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ray_platform.errors import ConfigError
from ray_platform.risk.factors import tenor_years
from ray_platform.risk.pricing import PricingModel

DEFAULT_SCENARIOS = Path(__file__).with_name("scenarios.yaml")
TYPES = ("historical", "hypothetical")
SHOCKS = ("equity", "fx", "rates_bp", "vol_points")
_KEYS = {"name", "type", "description", *SHOCKS}
_LIMITS = {
    "equity": (-1.0, 10.0),
    "fx": (-1.0, 10.0),
    "rates_bp": (-5000, 5000),
    "vol_points": (-100, 500),
}


@dataclass(frozen=True)
class Scenario:
    """One validated scenario."""

    name: str
    type: str
    description: str
    equity: Any = None
    fx: Any = None
    rates_bp: Any = None
    vol_points: Any = None


class _Bad(Exception):
    pass


def _num(value: Any, where: str, shock: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Bad(f"{where}: must be a number, got {value!r}")
    lo, hi = _LIMITS[shock]
    if not lo < value <= hi if shock in ("equity", "fx") else not lo <= value <= hi:
        raise _Bad(f"{where}: {value} is outside the plausible range ({lo}, {hi}]")
    return float(value)


def _check(shock: str, value: Any) -> None:
    if not isinstance(value, dict):
        _num(value, shock, shock)
        return
    for key, v in value.items():
        where = f"{shock}.{key}"
        if key == "default":
            _num(v, where, shock)
        elif shock == "equity" and key in ("sector", "country", "isin"):
            if not isinstance(v, dict) or not v:
                raise _Bad(f"{where}: must be a mapping of {key} to a move")
            for k2, v2 in v.items():
                _num(v2, f"{where}.{k2}", shock)
        elif shock == "vol_points" and key == "isin":
            if not isinstance(v, dict):
                raise _Bad(f"{where}: must be a mapping of ISIN to vol points")
            for k2, v2 in v.items():
                _num(v2, f"{where}.{k2}", shock)
        elif (
            shock in ("fx", "rates_bp") and isinstance(key, str) and len(key) == 3 and key.isupper()
        ):
            if shock == "rates_bp" and isinstance(v, dict):
                for tenor, v2 in v.items():
                    if tenor != "default":
                        try:
                            tenor_years(str(tenor))
                        except ValueError:
                            raise _Bad(
                                f"{where}.{tenor}: unknown tenor (use 3M, 1Y, 10Y...)"
                            ) from None
                    _num(v2, f"{where}.{tenor}", shock)
            else:
                _num(v, where, shock)
        else:
            raise _Bad(f"{where}: unknown key {key!r}")


def parse_scenarios(doc: Any, source: str = "<scenarios>") -> list[Scenario]:
    """Validate a parsed YAML document; every error names the scenario and the entry."""
    if not isinstance(doc, dict) or not isinstance(doc.get("scenarios"), list):
        raise ConfigError(f"{source}: expected a top-level 'scenarios:' list")
    out: list[Scenario] = []
    seen: set[str] = set()
    for i, entry in enumerate(doc["scenarios"], start=1):
        label = f"{source}: scenario #{i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{label}: must be a mapping, got {entry!r}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{label}: 'name' is required and must be text")
        label = f"{source}: scenario #{i} ({name!r})"
        if name in seen:
            raise ConfigError(f"{label}: duplicate name")
        seen.add(name)
        if unknown := set(entry) - _KEYS:
            raise ConfigError(f"{label}: unknown keys {sorted(unknown)}; allowed {sorted(_KEYS)}")
        if entry.get("type") not in TYPES:
            raise ConfigError(f"{label}: 'type' must be one of {TYPES}, got {entry.get('type')!r}")
        if not any(entry.get(s) is not None for s in SHOCKS):
            raise ConfigError(f"{label}: has no shocks (give one of {SHOCKS})")
        try:
            for s in SHOCKS:
                if entry.get(s) is not None:
                    _check(s, entry[s])
        except _Bad as exc:
            raise ConfigError(f"{label}: {exc}") from None
        out.append(
            Scenario(
                name,
                entry["type"],
                str(entry.get("description", "")),
                *(entry.get(s) for s in SHOCKS),
            )
        )
    return out


def load_scenarios(path: str | Path | None = None) -> list[Scenario]:
    """Read and validate a scenarios YAML file (default: the bundled ``scenarios.yaml``)."""
    import yaml

    p = Path(path) if path else DEFAULT_SCENARIOS
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read scenarios file {p}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return parse_scenarios(doc, str(p))


def _pick(spec: Any, *keys: tuple[str, str | None]) -> float:
    """Most specific value: ``keys`` are (section, key) pairs, most specific first."""
    if not isinstance(spec, dict):
        return float(spec or 0.0)
    for section, key in keys:
        if key is None:
            continue
        if section == "" and key in spec and not isinstance(spec[key], dict):
            return float(spec[key])
        sub = spec.get(section) if section else None
        if isinstance(sub, dict) and key in sub:
            return float(sub[key])
    return float(spec.get("default", 0.0))


def shock_vector(
    scenario: Scenario, factor_names: list[str], instruments: dict[str, dict[str, Any]]
) -> np.ndarray:
    """The scenario as a move of every factor (log moves for EQ and FX, decimals otherwise)."""
    x = np.zeros(len(factor_names))
    for j, name in enumerate(factor_names):
        kind, rest = name.split(":", 1)
        if kind == "EQ" and scenario.equity is not None:
            info = instruments.get(rest, {})
            move = _pick(
                scenario.equity,
                ("isin", rest),
                ("sector", info.get("sector")),
                ("country", info.get("country")),
            )
            x[j] = math.log1p(move)
        elif kind == "FX" and scenario.fx is not None:
            x[j] = math.log1p(_pick(scenario.fx, ("", rest)))
        elif kind == "IR" and scenario.rates_bp is not None:
            ccy, tenor = rest.split(":")
            spec = scenario.rates_bp
            if isinstance(spec, dict) and isinstance(spec.get(ccy), dict):
                sub = spec[ccy]
                bp = sub.get(tenor, sub.get("default", spec.get("default", 0.0)))
            else:
                bp = _pick(spec, ("", ccy))
            x[j] = float(bp) / 1e4
        elif kind == "VOL" and scenario.vol_points is not None:
            underlying = rest.split(":")[0]
            x[j] = _pick(scenario.vol_points, ("isin", underlying)) / 100.0
    return x


def run_stress(
    model: PricingModel, scenarios: list[Scenario], instruments: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """P&L per desk and firm-wide for each scenario (full revaluation), as rows."""
    if not scenarios:
        return []
    shocks = np.vstack([shock_vector(s, model.factor_names, instruments) for s in scenarios])
    pnl = np.asarray(model.pnl(shocks))
    rows = []
    for i, s in enumerate(scenarios):
        for d, desk in enumerate(model.desks):
            rows.append(
                {
                    "scenario": s.name,
                    "scenario_type": s.type,
                    "scope": "desk",
                    "desk": desk,
                    "pnl": float(pnl[i, d]),
                }
            )
        rows.append(
            {
                "scenario": s.name,
                "scenario_type": s.type,
                "scope": "firm",
                "desk": None,
                "pnl": float(pnl[i].sum()),
            }
        )
    return rows
