"""The MLflow model registry for ``fraud-xgb``: versions, aliases and the promotion gate.

Every daily model becomes a new version with alias ``challenger``. :func:`promote` moves
``champion`` to it only if, on the challenger's holdout, it catches more fraud at 0.1 % FPR than
the champion and is not worse calibrated (ECE up by at most ``ece_tolerance``). The decision and
its reasons are written on the challenger's version as tags and in its description, and every
decision and alias move is appended to the platform's audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.metrics import ece, recall_at_fpr
from ray_platform.governance.audit import AuditTrail, audit_trail
from ray_platform.settings import get_settings

MODEL_NAME = "fraud-xgb"
CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass
class Decision:
    """What the gate decided and why."""

    promoted: bool
    version: str
    previous_champion: str | None
    reasons: list[str] = field(default_factory=list)
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return self.__dict__.copy()


def client(tracking_uri: str) -> Any:
    """An MLflow client on ``tracking_uri`` (the registry lives in the same store)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _audit(trail: AuditTrail | None, event: str, outcome: str, **details: Any) -> None:
    """Append to ``trail`` (default: the platform's), as the process's configured identity."""
    settings = get_settings()
    trail = trail if trail is not None else audit_trail(settings)
    trail.append(
        event, actor=settings.user, role=settings.role, outcome=outcome, model=MODEL_NAME, **details
    )


def register(
    c: Any, model_uri: str, run_id: str, description: str = "", *, audit: AuditTrail | None = None
) -> str:
    """Register ``model_uri`` as a new version of ``fraud-xgb`` with alias ``challenger``."""
    from mlflow.exceptions import MlflowException

    try:
        c.get_registered_model(MODEL_NAME)
    except MlflowException:
        c.create_registered_model(MODEL_NAME, description="Card fraud model (XGBoost).")
    mv = c.create_model_version(MODEL_NAME, model_uri, run_id=run_id, description=description)
    old = alias_version(c, CHALLENGER)
    c.set_registered_model_alias(MODEL_NAME, CHALLENGER, mv.version)
    _audit(
        audit,
        "alias_switch",
        "ok",
        alias=CHALLENGER,
        old_version=old,
        version=str(mv.version),
        run_id=run_id,
    )
    return str(mv.version)


def alias_version(c: Any, alias: str) -> str | None:
    """The version an alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(c.get_model_version_by_alias(MODEL_NAME, alias).version)
    except MlflowException:
        return None


def gate(
    challenger: dict[str, float], champion: dict[str, float] | None, ece_tolerance: float = 0.002
) -> tuple[bool, list[str]]:
    """The promotion rule on the same holdout's metrics; returns (promote, reasons)."""
    if champion is None:
        return True, ["no champion yet: the first model becomes champion"]
    r_new, r_old = challenger["recall_at_0_1pct_fpr"], champion["recall_at_0_1pct_fpr"]
    e_new, e_old = challenger["ece"], champion["ece"]
    reasons = []
    better = r_new > r_old
    reasons.append(
        f"recall@0.1%FPR {r_new:.4f} vs champion {r_old:.4f}: "
        + ("better" if better else "not better")
    )
    calibrated = e_new <= e_old + ece_tolerance
    reasons.append(
        f"ECE {e_new:.5f} vs champion {e_old:.5f} (tolerance {ece_tolerance}): "
        + ("not worse" if calibrated else "worse")
    )
    return better and calibrated, reasons


def promote(
    c: Any,
    version: str,
    labels: np.ndarray,
    challenger_scores: np.ndarray,
    score_champion: Callable[[str], np.ndarray] | None,
    *,
    ece_tolerance: float = 0.002,
    audit: AuditTrail | None = None,
) -> Decision:
    """Compare ``version`` with the champion on one holdout and move ``champion`` if it wins.

    ``score_champion(version)`` scores the same holdout with the champion's model.
    """
    champ = alias_version(c, CHAMPION)
    mine = {
        "recall_at_0_1pct_fpr": recall_at_fpr(labels, challenger_scores),
        "ece": ece(labels, challenger_scores),
    }
    theirs = None
    if champ is not None and champ != version and score_champion is not None:
        s = score_champion(champ)
        theirs = {"recall_at_0_1pct_fpr": recall_at_fpr(labels, s), "ece": ece(labels, s)}
    ok, reasons = gate(mine, theirs, ece_tolerance)
    decision = Decision(ok, version, champ, reasons, mine, theirs or {})
    record_decision(c, decision)
    if ok:
        c.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    _audit(
        audit,
        "model_promotion",
        "allowed" if ok else "denied",
        version=version,
        previous_champion=champ,
        reasons=reasons,
        challenger_metrics=mine,
        champion_metrics=theirs,
    )
    if ok:
        _audit(audit, "alias_switch", "ok", alias=CHAMPION, old_version=champ, version=version)
    return decision


def record_decision(c: Any, d: Decision) -> None:
    """Write the decision on the challenger version: tags and a description line."""
    verdict = "promoted" if d.promoted else "rejected"
    c.set_model_version_tag(MODEL_NAME, d.version, "promotion.decision", verdict)
    c.set_model_version_tag(MODEL_NAME, d.version, "promotion.reasons", "; ".join(d.reasons))
    c.set_model_version_tag(
        MODEL_NAME, d.version, "promotion.previous_champion", d.previous_champion or "none"
    )
    text = f"Promotion gate: {verdict} against champion {d.previous_champion or 'none'}. " + (
        " ".join(d.reasons)
    )
    c.update_model_version(MODEL_NAME, d.version, description=text)


def reject(c: Any, version: str | None, reason: str, *, audit: AuditTrail | None = None) -> None:
    """Record a failed training on the run's version (if any); the champion is untouched."""
    if version is not None:
        c.set_model_version_tag(MODEL_NAME, version, "promotion.decision", "rejected")
        c.set_model_version_tag(MODEL_NAME, version, "promotion.reasons", reason)
    _audit(audit, "model_promotion", "denied", version=version, reasons=[reason])
