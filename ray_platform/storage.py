"""Where files live: a local folder or an S3 bucket, behind one small interface.

Every module that reads or writes lake files goes through :func:`storage_for`, so the same code
path runs against ``file://`` and ``s3://`` URIs. Both implementations wrap an fsspec filesystem,
which pyarrow, Ray Data, DuckDB and deltalake all accept.
"""

from __future__ import annotations

import abc
from typing import IO, Any
from urllib.parse import urlparse

import fsspec
import pyarrow.fs as pafs

from ray_platform.errors import InvalidArgument


class Storage(abc.ABC):
    """A root URI plus the filesystem that serves it. Paths are relative to the root."""

    scheme: str

    def __init__(self, root_uri: str) -> None:
        self.root_uri = root_uri.rstrip("/")

    @property
    @abc.abstractmethod
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem; paths given to it are :meth:`path` results."""

    @abc.abstractmethod
    def path(self, relative: str = "") -> str:
        """The filesystem path (no scheme) of ``relative`` under the root."""

    @abc.abstractmethod
    def storage_options(self) -> dict[str, Any]:
        """Options for libraries that open URIs themselves (deltalake, DuckDB, s3fs)."""

    def uri(self, relative: str = "") -> str:
        """The full URI of ``relative`` under the root."""
        return f"{self.root_uri}/{relative}".rstrip("/") if relative else self.root_uri

    def pyarrow_fs(self) -> pafs.FileSystem:
        """A pyarrow filesystem over the same files (for pyarrow.dataset and Ray Data)."""
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    def open(self, relative: str, mode: str = "rb") -> IO[Any]:
        """Open a file under the root, creating parent folders when writing."""
        full = self.path(relative)
        if "w" in mode or "a" in mode:
            self.fs.makedirs(full.rsplit("/", 1)[0], exist_ok=True)
        return self.fs.open(full, mode)

    def exists(self, relative: str) -> bool:
        """Whether ``relative`` exists under the root."""
        return self.fs.exists(self.path(relative))

    def list(self, relative: str = "", recursive: bool = False) -> list[str]:
        """Files under ``relative``, as paths relative to the root, sorted."""
        base = self.path(relative)
        if not self.fs.exists(base):
            return []
        found = self.fs.find(base) if recursive else self.fs.ls(base, detail=False)
        root = self.path()
        return sorted(p[len(root) :].lstrip("/") for p in found)


class LocalStorage(Storage):
    """A folder on local disk (``file:///abs/path``)."""

    scheme = "file"

    def __init__(self, root_uri: str) -> None:
        super().__init__(root_uri)
        self._root = urlparse(self.root_uri).path
        self._fs = fsspec.filesystem("file", auto_mkdir=True)

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return self._fs

    def path(self, relative: str = "") -> str:
        return f"{self._root}/{relative}".rstrip("/") if relative else self._root

    def storage_options(self) -> dict[str, Any]:
        return {}

    def pyarrow_fs(self) -> pafs.FileSystem:
        return pafs.LocalFileSystem()


class S3Storage(Storage):
    """A prefix in an S3 bucket (``s3://bucket/prefix``), through s3fs."""

    scheme = "s3"

    def __init__(self, root_uri: str, endpoint_url: str | None = None) -> None:
        super().__init__(root_uri)
        parsed = urlparse(self.root_uri)
        self._root = f"{parsed.netloc}{parsed.path}"
        self.endpoint_url = endpoint_url
        self._fs: fsspec.AbstractFileSystem | None = None

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            import s3fs

            kwargs: dict[str, Any] = {}
            if self.endpoint_url:
                kwargs["client_kwargs"] = {"endpoint_url": self.endpoint_url}
            self._fs = s3fs.S3FileSystem(**kwargs)
        return self._fs

    def path(self, relative: str = "") -> str:
        return f"{self._root}/{relative}".rstrip("/") if relative else self._root

    def storage_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if self.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = self.endpoint_url
            opts["AWS_ALLOW_HTTP"] = "true"
        return opts


def storage_for(uri: str, s3_endpoint_url: str | None = None) -> Storage:
    """The storage that serves ``uri`` (``file://`` or ``s3://``; a bare path means local)."""
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        if scheme == "":
            from pathlib import Path

            uri = Path(uri).expanduser().resolve().as_uri()
        return LocalStorage(uri)
    if scheme == "s3":
        return S3Storage(uri, endpoint_url=s3_endpoint_url)
    raise InvalidArgument(
        f"unsupported storage URI scheme {scheme!r} in {uri!r}: use file:// or s3://"
    )
