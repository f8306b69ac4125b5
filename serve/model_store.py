"""The live fraud model: MLflow ``champion`` of ``fraud-xgb``, swapped atomically when it moves.

:class:`ModelStore` holds one :class:`LoadedModel`. A background thread asks the registry every
``poll_s`` seconds which version the alias names; when it changed, the new version is downloaded
and loaded *completely* (and its feature list checked) before one reference assignment makes it
current. A request takes ``store.current`` once and scores with that object to the end, so a
switch never fails or mixes versions in a request in flight, and each response names the
version that scored it. A version that fails to load leaves the old one live (and is logged).

Every switch is appended to ``<home>/serve/model_switches.jsonl`` (time, model, alias, old and
new version, run id, process): one line per replica per switch, written with ``O_APPEND`` so
replicas never interleave, which answers "which model was live when" for any instant. Each
switch is also an ``alias_switch`` record in the platform's audit trail (by default whenever the
source is the MLflow registry; pass ``audit=`` to choose the trail).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from features.views import MODEL_FEATURES
from ray_platform.errors import NotFound, ServiceError
from ray_platform.governance.audit import AuditTrail, audit_trail
from ray_platform.settings import Settings, get_settings

log = logging.getLogger(__name__)

MODEL_NAME = "fraud-xgb"
ALIAS = "champion"
JOURNAL = "serve/model_switches.jsonl"


@dataclass(frozen=True)
class LoadedModel:
    """One fully loaded model version; immutable, so a request can keep it while others swap."""

    name: str
    version: str
    alias: str
    run_id: str | None
    booster: Any
    loaded_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    def __post_init__(self) -> None:
        names = list(getattr(self.booster, "feature_names", None) or [])
        width = getattr(self.booster, "num_features", lambda: len(MODEL_FEATURES))()
        if (names and names != list(MODEL_FEATURES)) or width != len(MODEL_FEATURES):
            raise ServiceError(
                f"model {self.name} v{self.version} has features {names[:3]}..., "
                f"not the scorer's {len(MODEL_FEATURES)} MODEL_FEATURES"
            )

    def _range(self) -> tuple[int, int]:
        best = getattr(self.booster, "best_iteration", None)
        return (0, int(best) + 1) if best is not None else (0, 0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Fraud probabilities (up to the best iteration, as ``models.train.predict``)."""
        return np.asarray(
            self.booster.inplace_predict(x, iteration_range=self._range(), validate_features=False)
        )

    def explain(self, x: np.ndarray, k: int) -> list[list[tuple[str, float, float]]]:
        """Top ``k`` TreeSHAP contributions per row, largest absolute first."""
        return self.predict_explain(x, k)[1]

    def predict_explain(
        self, x: np.ndarray, k: int
    ) -> tuple[np.ndarray, list[list[tuple[str, float, float]]]]:
        """Probabilities and top ``k`` contributions from one TreeSHAP pass.

        The contributions plus the bias are the margin (log-odds) of the same trees
        ``predict`` uses, so the probability is their logistic and a separate prediction call
        (a fifth of a single request's scoring time) is not needed; a unit test checks both
        agree. The ``DMatrix`` is built with ``nthread=1``: its default (every core) costs
        ~9 ms per request on a loaded 2-core machine against ~0.1 ms single-threaded.
        """
        import xgboost as xgb

        # Columns are in MODEL_FEATURES order, which __init__ checked against the booster's
        # names once; naming them again per request cost a quarter of the model call.
        dm = xgb.DMatrix(np.asarray(x, np.float32), nthread=1)
        # The same trees as predict(): contributions past the best iteration would explain a
        # probability the service never returned.
        contribs = self.booster.predict(
            dm, pred_contribs=True, iteration_range=self._range(), validate_features=False
        )
        probs = 1.0 / (1.0 + np.exp(-contribs.sum(axis=1, dtype=np.float64)))
        out = []
        for row, c in zip(np.atleast_2d(x), contribs[:, :-1], strict=True):
            order = np.argsort(-np.abs(c), kind="stable")[:k]
            out.append([(MODEL_FEATURES[i], float(row[i]), float(c[i])) for i in order])
        return probs, out

    def describe(self) -> dict[str, Any]:
        """Name, version, alias, training run id and load time."""
        return {
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "loaded_at": self.loaded_at,
        }


class ModelSource(Protocol):
    """The registry as the store needs it (MLflow, or a fake in tests)."""

    def alias_version(self) -> str | None:
        """The version the alias names now, or None."""
        ...

    def load(self, version: str) -> LoadedModel:
        """Download and load ``version`` completely."""
        ...


class MlflowSource:
    """``fraud-xgb@champion`` in the MLflow registry at ``settings.mlflow_uri``."""

    def __init__(
        self, settings: Settings | None = None, name: str = MODEL_NAME, alias: str = ALIAS
    ) -> None:
        from models.registry import client

        self.settings = settings or get_settings()
        self.name, self.alias = name, alias
        self.client = client(self.settings.mlflow_uri)

    def alias_version(self) -> str | None:
        """The aliased version (``models.registry.alias_version`` for the default model)."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.name, self.alias).version)
        except MlflowException:
            return None

    def load(self, version: str) -> LoadedModel:
        """Download the version's artifacts and load the booster they hold."""
        import mlflow

        mv = self.client.get_model_version(self.name, version)
        mlflow.set_tracking_uri(self.settings.mlflow_uri)
        mlflow.set_registry_uri(self.settings.mlflow_uri)
        dest = self.settings.home / "serve" / "models" / f"{self.name}-{version}-{os.getpid()}"
        dest.mkdir(parents=True, exist_ok=True)
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.name}/{version}",
                dst_path=str(dest),
                tracking_uri=self.settings.mlflow_uri,
            )
        )
        booster = single_threaded(load_booster(local))
        return LoadedModel(self.name, str(version), self.alias, mv.run_id, booster)


def load_booster(path: Path) -> Any:
    """An ``xgboost.Booster`` from an MLflow model folder or a folder holding a model file."""
    import xgboost as xgb

    if (path / "MLmodel").exists():
        import mlflow.xgboost

        model = mlflow.xgboost.load_model(str(path))
        return model.get_booster() if hasattr(model, "get_booster") else model
    files = [p for p in sorted(path.rglob("*")) if p.suffix in (".ubj", ".json", ".xgb")]
    if path.is_file():
        files = [path]
    if not files:
        raise NotFound(f"no XGBoost model file under {path}")
    booster = xgb.Booster()
    booster.load_model(str(files[0]))
    return booster


def single_threaded(booster: Any) -> Any:
    """One thread per prediction: replicas and consumers already run one per core."""
    booster.set_param({"nthread": 1})
    return booster


class ModelStore:
    """The current model and the thread that follows the alias."""

    def __init__(
        self,
        source: ModelSource,
        journal: Path | None = None,
        on_switch: Callable[[LoadedModel | None, LoadedModel], None] | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        self.source = source
        self.journal = journal
        self.on_switch = on_switch
        if audit is None and isinstance(source, MlflowSource):
            audit = audit_trail(source.settings)
        self.audit = audit
        self._actor = source.settings.user if isinstance(source, MlflowSource) else "serve"
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def current(self) -> LoadedModel:
        """The live model; take it once per request."""
        m = self._current
        if m is None:
            raise ServiceError("no model loaded yet")
        return m

    @property
    def loaded(self) -> bool:
        """Whether a model is live."""
        return self._current is not None

    def refresh(self) -> bool:
        """Load and switch to the aliased version if it changed; True when it switched."""
        with self._lock:
            try:
                version = self.source.alias_version()
                old = self._current
                if version is None or (old is not None and old.version == version):
                    return False
                new = self.source.load(version)  # fully loaded before anyone sees it
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model refresh failed, keeping %s: %s", self._current, exc)
                return False
            self._current = new  # the swap: one reference assignment
            self.last_error = None
            self._record(old, new)
            if self.on_switch:
                self.on_switch(old, new)
            return True

    def _record(self, old: LoadedModel | None, new: LoadedModel) -> None:
        if self.audit is not None:
            try:
                self.audit.append(
                    "alias_switch",
                    actor=self._actor,
                    model=new.name,
                    alias=new.alias,
                    old_version=old.version if old else None,
                    version=new.version,
                    run_id=new.run_id,
                    process=f"{socket.gethostname()}:{os.getpid()}",
                )
            except Exception as exc:  # scoring goes on; the journal below still has the switch
                self.last_error = f"audit: {type(exc).__name__}: {exc}"
                log.error("could not audit the switch to %s v%s: %s", new.name, new.version, exc)
        if self.journal is None:
            return
        line = json.dumps(
            {
                "time": dt.datetime.now(dt.UTC).isoformat(),
                "model": new.name,
                "alias": new.alias,
                "old_version": old.version if old else None,
                "new_version": new.version,
                "run_id": new.run_id,
                "process": f"{socket.gethostname()}:{os.getpid()}",
            }
        )
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def start(self, poll_s: float) -> None:
        """Follow the alias every ``poll_s`` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(poll_s):
                self.refresh()

        self._thread = threading.Thread(target=loop, name="model-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following the alias."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None


def journal_path(settings: Settings | None = None) -> Path:
    """Where switches are recorded: ``<home>/serve/model_switches.jsonl``."""
    return (settings or get_settings()).home / JOURNAL


def switches(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every recorded switch, oldest first."""
    path = journal_path(settings)
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def live_at(when: dt.datetime, settings: Settings | None = None) -> dict[str, str]:
    """Which version each process had live at ``when`` (from the journal)."""
    out: dict[str, str] = {}
    for s in switches(settings):
        if dt.datetime.fromisoformat(s["time"]) <= when:
            out[s["process"]] = s["new_version"]
    return out


def wait_for_version(store: ModelStore, version: str, timeout_s: float = 30.0) -> bool:
    """Refresh until ``version`` is live (tests and the CLI)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        store.refresh()
        if store.loaded and store.current.version == version:
            return True
        time.sleep(0.2)
    return False
