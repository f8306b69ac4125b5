"""The online store seam: SQLite (embedded default) and Redis (production), both through Feast.

An :class:`OnlineStore` knows only its Feast ``online_store`` configuration; reading features,
filling missing values with :data:`DEFAULTS` and counting what was missing is shared::

    with online_store_for(settings) as store:
        rows = store.get_features([{"customer_id": "CU1", "card_id": "CA1", ...}])
        store.missing  # Counter({'cm_txn_count': 1}) - features that fell back to defaults

A feature missing at serving time (new customer, expired by the view's TTL, store not yet
materialised) gets its documented default, never an error, so scoring always answers.
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.views import MODEL_FEATURES, PROJECT, SERVICE, SPEND, VELOCITY
from ray_platform.errors import ServiceError
from ray_platform.settings import Settings, get_settings

PRIOR_FRAUD_RATE = 0.003
"""The generator-wide fraud rate: the merchant prior for a merchant never seen."""

DEFAULTS: dict[str, float] = {
    **{n: (math.nan if ("mean" in n or "std" in n) else 0.0) for n in SPEND},
    **dict.fromkeys(VELOCITY, 0.0),
    "merchant_fraud_rate": PRIOR_FRAUD_RATE,
    "merchant_txn_count": 0.0,
    "segment_code": -1.0,
    "kyc_risk_score": -1.0,
    "cm_txn_count": 0.0,
    "cd_txn_count": 0.0,
}
"""Value used when a stored feature is missing: counts and sums 0 (no activity in the window),
means and standard deviations NaN (XGBoost's missing value), the merchant fraud rate the global
prior, unknown profile codes -1. On-demand features are always computed, never missing."""


def apply_defaults(
    frame: pd.DataFrame, features: Sequence[str] = MODEL_FEATURES
) -> tuple[pd.DataFrame, Counter[str]]:
    """Fill missing stored features with :data:`DEFAULTS`; returns the frame and the counts."""
    missing: Counter[str] = Counter()
    out = frame.copy()
    for name in features:
        if name not in out:
            out[name] = math.nan
        col = pd.to_numeric(out[name], errors="coerce").astype("float64")
        gaps = col.isna()
        if name in DEFAULTS and gaps.any():
            if not math.isnan(DEFAULTS[name]):
                col = col.fillna(DEFAULTS[name])
            missing[name] += int(gaps.sum())
        out[name] = col
    return out, missing


class SqliteConfig(BaseModel):
    """Embedded SQLite online store (one file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["sqlite"] = "sqlite"
    path: str = Field(description="SQLite database file.")


class RedisConfig(BaseModel):
    """Redis online store."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["redis"] = "redis"
    connection_string: str = Field(description="host:port[,password=...] as Feast reads it.")


OnlineConfig = Annotated[SqliteConfig | RedisConfig, Field(discriminator="type")]


class OnlineStore(abc.ABC):
    """Feature reads for serving; subclasses only say how Feast reaches their store."""

    kind: str

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.missing: Counter[str] = Counter()
        self._store: Any = None

    @abc.abstractmethod
    def config(self) -> SqliteConfig | RedisConfig:
        """The Feast ``online_store`` block of this store."""

    def check(self) -> None:
        """Raise :class:`ServiceError` when the store cannot be reached (default: nothing)."""
        return None

    @property
    def feast(self) -> Any:
        """The :class:`feast.FeatureStore` bound to this online store."""
        if self._store is None:
            from features.store import feature_store

            self.check()
            self._store = feature_store(self.settings, self.kind)
        return self._store

    def apply(self) -> None:
        """Register the feature definitions (``feast apply``) with this store."""
        from features.store import apply

        self.check()
        apply(self.settings, self.kind)

    def materialize(self, end: Any, start: Any = None) -> None:
        """Incrementally load the offline features up to ``end`` into this store.

        Feast's incremental start is the last materialised end, or ``now - ttl`` on the first
        run, which misses history older than that (generated or back-filled days); a first run
        therefore loads ``start..end`` (default: 400 days before ``end``).
        """
        import datetime as dt

        store = self.feast
        views = store.list_feature_views()
        if views and all(v.most_recent_end_time for v in views):
            store.materialize_incremental(end_date=end)
        else:
            store.materialize(start_date=start or end - dt.timedelta(days=400), end_date=end)

    def get_features(self, rows: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
        """The model features for each row (entity keys plus request fields), by feature name.

        Missing stored features get :data:`DEFAULTS`; each one is counted in :attr:`missing`.
        """
        store = self.feast
        service = store.get_feature_service(SERVICE)
        got = store.get_online_features(features=service, entity_rows=list(rows)).to_dict()
        frame, missing = apply_defaults(pd.DataFrame(got), MODEL_FEATURES)
        self.missing.update(missing)
        return {n: frame[n].tolist() for n in MODEL_FEATURES}

    @abc.abstractmethod
    def erase(self, entities: dict[str, set[str]]) -> int:
        """Delete every row whose entity key holds one of ``entities[join_key]``; returns how many.

        For GDPR erasure: ``{"customer_id": {...}, "card_id": {...}}``. Feast has no
        delete-by-entity API, so each store scans its keys, decodes them with Feast's own
        serialisation and deletes the matches.
        """

    def close(self) -> None:
        """Release the Feast store."""
        self._store = None

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SqliteOnlineStore(OnlineStore):
    """The embedded default: ``<home>/feast/online.db``."""

    kind = "sqlite"

    def config(self) -> SqliteConfig:
        """The SQLite file under the Feast folder."""
        from features.store import online_config

        return SqliteConfig(**online_config(self.settings, "sqlite"))

    def erase(self, entities: dict[str, set[str]]) -> int:
        """Delete the matching rows of every view's table (``<project>_<view>``)."""
        import sqlite3
        from pathlib import Path

        path = Path(self.config().path)
        if not path.exists():
            return 0
        con = sqlite3.connect(path, timeout=60)
        try:
            con.execute("PRAGMA secure_delete = ON")  # deleted rows are overwritten, not freed
            tables = [
                r[0]
                for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if r[0].startswith(f"{PROJECT}_")
            ]
            deleted = 0
            with con:
                for table in tables:
                    quoted = '"' + table.replace('"', '""') + '"'
                    keys = [k for (k,) in con.execute(f"SELECT DISTINCT entity_key FROM {quoted}")]
                    for key in (k for k in keys if _entity_matches(k, entities)):
                        cur = con.execute(f"DELETE FROM {quoted} WHERE entity_key = ?", (key,))
                        deleted += cur.rowcount
            con.execute("VACUUM")
            return deleted
        finally:
            con.close()


class RedisOnlineStore(OnlineStore):
    """Redis at ``settings.redis_address`` (needs the ``redis`` package)."""

    kind = "redis"

    def config(self) -> RedisConfig:
        """The Redis connection string from the settings."""
        return RedisConfig(connection_string=self.settings.redis_address)

    def check(self) -> None:
        """Ping Redis; a missing client library or a dead server is a :class:`ServiceError`."""
        try:
            import redis
        except ImportError:
            raise ServiceError(
                'the Redis online store needs the redis client: pip install "feast[redis]"'
            ) from None
        host, _, port = self.settings.redis_address.split(",")[0].partition(":")
        try:
            redis.Redis(host=host, port=int(port or 6379), socket_timeout=3).ping()
        except redis.RedisError as exc:
            raise ServiceError(
                f"Redis at {self.settings.redis_address} does not answer ({exc}); "
                "start it with ray_platform.services.redis"
            ) from None

    def erase(self, entities: dict[str, set[str]]) -> int:
        """Delete the matching entity hashes (``<serialised entity key><project>``)."""
        import redis

        self.check()
        host, _, port = self.settings.redis_address.split(",")[0].partition(":")
        client = redis.Redis(host=host, port=int(port or 6379), socket_timeout=10)
        suffix = PROJECT.encode()
        needles = [v.encode() for values in entities.values() for v in values]
        doomed = [
            key
            for key in client.scan_iter(count=1000)
            if key.endswith(suffix)
            and any(n in key for n in needles)
            and _entity_matches(key[: -len(suffix)], entities)
        ]
        for i in range(0, len(doomed), 500):
            client.delete(*doomed[i : i + 500])
        return len(doomed)


def _entity_matches(serialized: bytes, entities: dict[str, set[str]]) -> bool:
    """Whether a Feast-serialised entity key (version 3) has one of ``entities``' values."""
    from feast.infra.key_encoding_utils import deserialize_entity_key

    try:
        key = deserialize_entity_key(bytes(serialized), entity_key_serialization_version=3)
    except (ValueError, IndexError):
        return False
    for name, value in zip(key.join_keys, key.entity_values, strict=False):
        if value.WhichOneof("val") == "string_val" and value.string_val in entities.get(name, ()):
            return True
    return False


_STORES: dict[str, type[OnlineStore]] = {"sqlite": SqliteOnlineStore, "redis": RedisOnlineStore}


def online_store_for(settings: Settings | None = None, kind: str | None = None) -> OnlineStore:
    """The configured online store (``settings.online_store``), or ``kind``."""
    s = settings or get_settings()
    return _STORES[kind or s.online_store](s)


@contextlib.contextmanager
def opened(settings: Settings | None = None) -> Iterator[OnlineStore]:
    """The configured online store as a context manager."""
    with online_store_for(settings) as store:
        yield store
