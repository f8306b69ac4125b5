"""ACID tables in the lake: one small interface, Delta Lake (delta-rs) behind it.

Tables are named by their path under the lake root (``silver/card_transactions``). Every write
is one atomic commit that creates a new table version, so readers never see half a write and
any past version can be read back (time travel) until it is vacuumed.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from ray_platform.errors import NotFound
from ray_platform.settings import Settings, get_settings
from ray_platform.storage import Storage, storage_for


class TableStore(abc.ABC):
    """Read and write versioned tables under one lake root."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def uri(self, name: str) -> str:
        """The table's URI (what deltalake, Ray Data and DuckDB open)."""
        return self.storage.uri(name)

    @abc.abstractmethod
    def exists(self, name: str) -> bool:
        """Whether a table exists at ``name``."""

    @abc.abstractmethod
    def version(self, name: str) -> int:
        """The table's current version number."""

    @abc.abstractmethod
    def dataset(self, name: str, version: int | None = None) -> pads.Dataset:
        """The table (at ``version``, default latest) as a pyarrow dataset, read lazily."""

    @abc.abstractmethod
    def write(
        self,
        name: str,
        data: pa.Table,
        *,
        mode: str = "append",
        partition_by: Sequence[str] | None = None,
        predicate: str | None = None,
        evolve_schema: bool = False,
    ) -> int:
        """Append, or overwrite (all rows, or those matching ``predicate``); returns the version."""

    @abc.abstractmethod
    def merge(self, name: str, data: pa.Table, keys: Sequence[str]) -> int:
        """Upsert ``data`` by ``keys``: update matches, insert the rest; returns the version."""

    @abc.abstractmethod
    def delete(self, name: str, predicate: str) -> int:
        """Delete the rows matching ``predicate``; returns the version."""

    def read(
        self, name: str, version: int | None = None, columns: Sequence[str] | None = None
    ) -> pa.Table:
        """The whole table (or some columns) at ``version`` as an Arrow table."""
        return self.dataset(name, version).to_table(columns=list(columns) if columns else None)


class DeltaTableStore(TableStore):
    """Delta Lake tables through the ``deltalake`` package (no catalog server needed)."""

    def _open(self, name: str, version: int | None = None) -> Any:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return DeltaTable(
                self.uri(name), version=version, storage_options=self.storage.storage_options()
            )
        except TableNotFoundError:
            raise NotFound(f"no table {name!r} in the lake at {self.storage.root_uri}") from None

    def exists(self, name: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.uri(name), self.storage.storage_options())

    def version(self, name: str) -> int:
        return self._open(name).version()

    def dataset(self, name: str, version: int | None = None) -> pads.Dataset:
        return self._open(name, version).to_pyarrow_dataset()

    def write(
        self,
        name: str,
        data: pa.Table,
        *,
        mode: str = "append",
        partition_by: Sequence[str] | None = None,
        predicate: str | None = None,
        evolve_schema: bool = False,
    ) -> int:
        from deltalake import WriterProperties, write_deltalake

        write_deltalake(
            self.uri(name),
            data,
            mode=mode,  # type: ignore[arg-type]
            partition_by=list(partition_by) if partition_by else None,
            predicate=predicate,
            schema_mode="merge" if evolve_schema else None,
            storage_options=self.storage.storage_options(),
            writer_properties=WriterProperties(compression="ZSTD"),
        )
        return self.version(name)

    def merge(self, name: str, data: pa.Table, keys: Sequence[str]) -> int:
        if not self.exists(name):
            return self.write(name, data)
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        (
            self._open(name)
            .merge(data, predicate=on, source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
        return self.version(name)

    def delete(self, name: str, predicate: str) -> int:
        table = self._open(name)
        table.delete(predicate)
        return table.version()


def table_store(settings: Settings | None = None) -> TableStore:
    """The table store over the configured lake root."""
    s = settings or get_settings()
    return DeltaTableStore(storage_for(s.lake_uri, s.s3_endpoint_url))
