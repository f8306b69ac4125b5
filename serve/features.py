"""Stored features at request time, through Feast: a thin adapter over ``features.online``.

``OnlineStore.get_features`` reads the whole feature service, on-demand view included; Feast
evaluates that view with pandas per call (about 50 ms on the 2-core machine). Serving needs the
stored views only, because the scorer merges the streaming velocity windows *before* computing
the on-demand features itself with the same function (``features.views.transaction_context``).

Even for stored views, ``FeatureStore.get_online_features`` spends ~1.3 ms of Python per call
on a one-row request (entity preparation, response assembly, proto conversions) against ~0.15 ms
in the store itself, which made it the largest cost of an HTTP score. So the adapter calls the
configured Feast online store's own ``online_read`` (SQLite or Redis, Feast's code and key
serialisation) once per view and converts the values itself; a unit test checks it returns
exactly what ``get_online_features`` returns. Defaults are left to the scorer.

For the SQLite store even ``online_read`` was most of a Kafka batch's cost: its connection
parses every row's ``event_ts`` into a datetime (the scorer never uses it) and each value goes
through Feast's generic type conversion. :class:`SqliteViews` runs the same query on the same
file and table with Feast's key serialisation, selects only what is used and decodes the
scalar values directly: a third of the time per transaction. The same contract test covers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from features.online import OnlineStore, online_store_for
from ray_platform.errors import ServiceError
from ray_platform.settings import Settings


class FeastFeatures:
    """Stored features from the configured online store (SQLite default, Redis production)."""

    def __init__(self, settings: Settings | None = None, store: OnlineStore | None = None) -> None:
        self.store = store or online_store_for(settings)
        self._refs: list[str] | None = None
        self._views: list[tuple[Any, list[str], list[str]]] = []
        self._sqlite: SqliteViews | None = None

    @property
    def kind(self) -> str:
        """``sqlite`` or ``redis``."""
        return self.store.kind

    def load(self) -> None:
        """Open the store and read once, so the first request pays no warm-up."""
        try:
            fs = self.store.feast
            views = fs.list_feature_views()
            self._views = [
                (v, sorted(c.name for c in v.entity_columns), [f.name for f in v.features])
                for v in views
            ]
            self._refs = [f"{v.name}:{f.name}" for v in views for f in v.features]
        except Exception as exc:  # Feast raises many types for a missing registry
            raise ServiceError(f"online store not ready: {exc}") from None
        if not self._refs:
            raise ServiceError("online store has no feature views: run the features job")
        self.stored([{"customer_id": "", "card_id": "", "merchant_id": "", "device_id": ""}])

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` succeeded."""
        return bool(self._refs)

    def stored(self, rows: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
        """Stored feature values per row; None where the store has nothing."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type

        if self._refs is None:
            self.load()
        fs = self.store.feast
        online = fs._get_provider().online_store
        if self._sqlite is None and self.kind == "sqlite":
            self._sqlite = SqliteViews(fs.config, online)
        out: list[dict[str, Any]] = [{} for _ in rows]
        for view, keys, names in self._views:
            # A Kafka batch repeats customers, merchants and cards: read each entity once.
            wanted = [tuple(str(r.get(k) or "") for k in keys) for r in rows]
            unique = list(dict.fromkeys(wanted))
            if self._sqlite is not None:
                found = self._sqlite.read(view, keys, names, unique)
                for i, key in enumerate(wanted):
                    out[i].update(found[key])
                continue
            entity_keys = [
                EntityKey(join_keys=keys, entity_values=[Value(string_val=v) for v in key])
                for key in unique
            ]
            found: dict[tuple[str, ...], dict[str, Any]] = {}
            read = online.online_read(fs.config, view, entity_keys, names)
            for key, (_, values) in zip(unique, read, strict=True):
                found[key] = {
                    n: None
                    if not values or values.get(n) is None
                    else feast_value_type_to_python_type(values[n])
                    for n in names
                }
            for i, key in enumerate(wanted):
                out[i].update(found[key])
        return out

    def stored_via_feature_store(self, rows: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
        """The same values through ``FeatureStore.get_online_features`` (the tests' reference)."""
        if self._refs is None:
            self.load()
        got = self.store.feast.get_online_features(
            features=self._refs, entity_rows=list(rows)
        ).to_dict()
        names = [k for k in got if k not in rows[0]]
        return [{n: got[n][i] for n in names} for i in range(len(rows))]


# Value fields the scorer's views use, read straight off the proto; anything else (timestamps,
# lists) goes through Feast's own conversion.
_SCALARS = frozenset(
    ("int32_val", "int64_val", "double_val", "float_val", "string_val", "bool_val", "bytes_val")
)


class SqliteViews:
    """Feast's SQLite online tables read directly: same file, tables and key encoding."""

    def __init__(self, config: Any, online: Any, cache_keys: int = 200_000) -> None:
        import sqlite3

        from feast.infra.online_stores.sqlite import _quote_id, _table_id

        self.config = config
        path = online._get_db_path(config)
        # Plain types: no per-row timestamp parsing. Read-only, so it cannot write the store.
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        versioning = config.registry.enable_online_feature_view_versioning
        self._table = lambda view: _quote_id(_table_id(config.project, view, versioning))
        self._keys: dict[tuple[tuple[str, ...], tuple[str, ...]], bytes] = {}
        self._cache_keys = cache_keys

    def _key(self, names: tuple[str, ...], values: tuple[str, ...]) -> bytes:
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        k = (names, values)
        got = self._keys.get(k)
        if got is None:
            if len(self._keys) >= self._cache_keys:
                self._keys.clear()
            proto = EntityKey(
                join_keys=list(names), entity_values=[Value(string_val=v) for v in values]
            )
            got = self._keys[k] = serialize_entity_key(
                proto,
                entity_key_serialization_version=self.config.entity_key_serialization_version,
            )
        return got

    def read(
        self,
        view: Any,
        keys: Sequence[str],
        names: Sequence[str],
        entities: Sequence[tuple[str, ...]],
    ) -> dict[tuple[str, ...], dict[str, Any]]:
        """Each entity's values of ``names`` in ``view`` (all None for an unknown entity)."""
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type

        key_names = tuple(keys)
        encoded = {self._key(key_names, e): e for e in entities}
        got: dict[bytes, dict[str, Any]] = {}
        wanted = set(names)
        if encoded:
            rows = self.conn.execute(
                f"SELECT entity_key, feature_name, value FROM {self._table(view)} "
                f"WHERE entity_key IN ({','.join('?' * len(encoded))})",
                list(encoded),
            ).fetchall()
            for ek, name, blob in rows:
                if name not in wanted:
                    continue
                v = Value.FromString(blob)
                kind = v.WhichOneof("val")
                if kind is None or kind == "null_val":
                    value = None
                elif kind in _SCALARS:
                    value = getattr(v, kind)
                else:
                    value = feast_value_type_to_python_type(v)
                got.setdefault(ek, {})[name] = value
        empty = dict.fromkeys(names)
        return {e: empty | got.get(ek, {}) for ek, e in encoded.items()}
