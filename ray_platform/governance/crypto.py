"""Encryption at rest: AES-256-GCM envelope encryption of lake columns and bronze files.

Every ciphertext is AES-256-GCM under a *data key*; data keys are stored only wrapped by the
master key of :mod:`ray_platform.governance.kms`, in the key registry
``<home>/keys/registry.db`` (SQLite, ``secure_delete`` on, so a destroyed key's bytes are
overwritten, not just unlinked). There are three kinds of data key:

- ``t-...`` one per table, for the Confidential and Restricted columns of silver and gold
  (:func:`encrypt_columns` / :func:`decrypt_columns`);
- ``c-...`` one per customer, for that customer's records in bronze files, so erasing a person
  destroys one key (crypto-shredding) and leaves every other record of the file readable;
- ``f-...`` one per bronze file, for its records that belong to no customer (a CSV header).

Columns. Delta's writer cannot do Parquet modular encryption, so values are encrypted one by
one and stored as text, ``enc1:<key id>:<base64(nonce | ciphertext | tag)>``: the column keeps
its string type, a table's schema does not change, and a value copied to another table (a
warehouse dimension) still names its key. Encrypted: the contract's ``confidential`` and
``restricted`` columns (PII among them already tokenised), except :data:`CLEAR_FOR_COMPUTE`,
which later stages compute on, and the ``payload`` (the raw record) and ``reason`` (it quotes the
failing value) of quarantine rows.

Bronze. Files of the personal feeds (those whose records carry a ``customer_id``) are sealed at
landing (:func:`bronze_writer`): records (lines) are grouped by customer and each group is one
AES-GCM frame under that customer's key; :func:`read_bronze` gives the original bytes back,
less the records of erased customers. Other feeds (market and trading data) stay as they came.

Encryption is on once the key manager is initialised (``gbank keys init``, or ``GBANK_KMS=aws``
with a key id): until then writers leave data in clear, and readers accept both forms.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import hmac
import io
import itertools
import json
import logging
import os
import sqlite3
import struct
import uuid
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.errors import EncryptionError
from ray_platform.governance.kms import NONCE_BYTES, KeyManager, key_manager
from ray_platform.settings import Settings, get_settings
from ray_platform.storage import Storage

log = logging.getLogger(__name__)

_U32 = np.dtype("<u4")  # frame indexes are little-endian whatever the machine
PREFIX = "enc1:"
"""Start of every encrypted column value."""
BRONZE_MAGIC = b"GBENC1\n"
"""First bytes of every sealed bronze file."""
ENCRYPTED_CLASSES = frozenset({"confidential", "restricted"})
CLEAR_FOR_COMPUTE: dict[str, str] = {
    "city": "the warehouse's SCD2 customer dimension tracks changes of it",
    "kyc_risk_rating": "gold customer_features and the fraud profile features compute on it",
    "trader": "the MiFID II RTS 22 report states it",
}
"""Confidential columns left in clear, and why: encrypting them needs decryption in those
readers first (they read silver with DuckDB and pyarrow directly)."""


def encryption_enabled(settings: Settings | None = None) -> bool:
    """Whether writers encrypt: the key manager has a master key."""
    return key_manager(settings or get_settings()).initialised()


# -- the key registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """What :meth:`KeyRing.rotate` did."""

    version: str
    rewrapped: int
    destroyed_versions: tuple[str, ...]


class KeyRing:
    """Data keys by id: created on demand, unwrapped once per process, destroyable."""

    def __init__(self, settings: Settings | None = None, manager: KeyManager | None = None):
        self.settings = settings or get_settings()
        self.manager = manager or key_manager(self.settings)
        self.path = self.settings.home / "keys" / "registry.db"
        self._cache: dict[str, bytes | None] = {}

    def _db(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not self.path.exists()
        con = sqlite3.connect(self.path, timeout=60)
        if fresh:
            os.chmod(self.path, 0o600)
        con.execute("PRAGMA secure_delete = ON")
        con.execute(
            "CREATE TABLE IF NOT EXISTS data_keys (key_id TEXT PRIMARY KEY, purpose TEXT, "
            "wrapped BLOB NOT NULL, created_at TEXT NOT NULL)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS destroyed (key_id TEXT PRIMARY KEY, destroyed_at TEXT)"
        )
        return con

    def keys(self, ids: Iterable[str], purpose: str = "", create: bool = True) -> dict[str, bytes]:
        """Plaintext data keys of ``ids``; missing ones are created when ``create``.

        A destroyed key is never recreated: with ``create`` its id maps to a fresh key that is
        not stored, so what is encrypted under it is unreadable at once (records of an erased
        customer that arrive again); without ``create`` it is left out, as unknown ids are.
        """
        wanted = list(dict.fromkeys(ids))
        self._load([i for i in wanted if i not in self._cache], purpose, create)
        out: dict[str, bytes] = {}
        for i in wanted:
            if i not in self._cache:
                continue
            key = self._cache[i]
            if key is None and create:
                key = os.urandom(32)
            if key is not None:
                out[i] = key
        return out

    def _load(self, ids: list[str], purpose: str, create: bool) -> None:
        if not ids:
            return
        with closing(self._db()) as con, con:
            self._fetch(con, ids)
            missing = [i for i in ids if i not in self._cache]
            if not (missing and create):
                return
            made = {i: self.manager.generate_data_key() for i in missing}
            con.executemany(
                "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?)",
                [(i, purpose, wrapped, _now()) for i, (_, wrapped) in made.items()],
            )
            for chunk in _chunks(missing, 500):  # another writer may have won a race: use its key
                marks = ",".join("?" * len(chunk))
                for key_id, wrapped in con.execute(
                    f"SELECT key_id, wrapped FROM data_keys WHERE key_id IN ({marks})", chunk
                ):
                    plain, ours = made[key_id]
                    self._cache[key_id] = plain if wrapped == ours else self.manager.unwrap(wrapped)

    def _fetch(self, con: sqlite3.Connection, ids: list[str]) -> None:
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for key_id, wrapped in con.execute(
                f"SELECT key_id, wrapped FROM data_keys WHERE key_id IN ({marks})", chunk
            ):
                self._cache[key_id] = self.manager.unwrap(wrapped)
            for (key_id,) in con.execute(
                f"SELECT key_id FROM destroyed WHERE key_id IN ({marks})", chunk
            ):
                self._cache[key_id] = None

    def key(self, key_id: str, purpose: str = "", create: bool = True) -> bytes:
        """One data key; :class:`EncryptionError` if it is destroyed or unknown."""
        if self.destroyed(key_id):
            raise EncryptionError(f"data key {key_id} was destroyed (crypto-shredded)")
        got = self.keys([key_id], purpose, create)
        if key_id not in got:
            raise EncryptionError(f"no data key {key_id} in {self.path}")
        return got[key_id]

    def readable(self, ids: Iterable[str]) -> dict[str, bytes]:
        """The keys of ``ids`` that exist and are not destroyed (for decryption)."""
        ids = list(ids)
        self.keys(ids, create=False)
        return {i: k for i in ids if (k := self._cache.get(i)) is not None}

    def destroyed(self, key_id: str) -> bool:
        """Whether ``key_id`` was destroyed."""
        if key_id in self._cache:
            return self._cache[key_id] is None
        with closing(self._db()) as con:
            return (
                con.execute("SELECT 1 FROM destroyed WHERE key_id = ?", (key_id,)).fetchone()
                is not None
            )

    def destroy(self, key_ids: Iterable[str]) -> int:
        """Destroy data keys (their wrapped bytes are overwritten); returns how many existed."""
        ids = list(dict.fromkeys(key_ids))
        with closing(self._db()) as con, con:
            n = 0
            for key_id in ids:
                n += con.execute("DELETE FROM data_keys WHERE key_id = ?", (key_id,)).rowcount
                con.execute("INSERT OR REPLACE INTO destroyed VALUES (?, ?)", (key_id, _now()))
        with closing(self._db()) as con:
            con.execute("VACUUM")  # no free page keeps the old row
        for key_id in ids:
            self._cache[key_id] = None
        return n

    def count(self) -> int:
        """Data keys in the registry."""
        with closing(self._db()) as con:
            return int(con.execute("SELECT count(*) FROM data_keys").fetchone()[0])

    def rotate(self, destroy_old: bool = False) -> Rotation:
        """A new master version, every data key re-wrapped under it; no data is rewritten.

        With ``destroy_old`` (local keys only) the earlier master versions are destroyed once
        every data key is re-wrapped, so a copy of the old registry is no longer enough.
        """
        old = self.manager.current_version() if self.manager.initialised() else None
        version = self.manager.rotate()
        with closing(self._db()) as con, con:
            rows = con.execute("SELECT key_id, wrapped FROM data_keys").fetchall()
            con.executemany(
                "UPDATE data_keys SET wrapped = ? WHERE key_id = ?",
                [(self.manager.rewrap(w), k) for k, w in rows],
            )
        with closing(self._db()) as con:
            con.execute("VACUUM")
        gone: list[str] = []
        if destroy_old and old is not None and self.manager.destroys_versions:
            for v in range(1, int(version)):
                self.manager.destroy_version(str(v))
                gone.append(str(v))
        return Rotation(version, len(rows), tuple(gone))


def _chunks(items: Sequence[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def table_key_id(dataset: str) -> str:
    """The id of a table's column key (``t-`` + a hash of the table name)."""
    return "t-" + hashlib.sha256(dataset.encode()).hexdigest()[:16]


def customer_key_id(customer_id: str, settings: Settings | None = None) -> str:
    """The id of a customer's bronze key: a keyed hash, so the id itself names nobody."""
    return customer_key_ids([customer_id], settings)[customer_id]


def customer_key_ids(
    customer_ids: Iterable[str], settings: Settings | None = None
) -> dict[str, str]:
    """:func:`customer_key_id` of many customers."""
    from ray_platform.lake.tokens import token_key

    key = token_key(settings or get_settings())
    return {
        c: "c-" + hmac.new(key, b"customer-data-key|" + c.encode(), "sha256").hexdigest()[:32]
        for c in customer_ids
    }


# -- columns -------------------------------------------------------------------------------------


def _aes(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def encrypt_value(key: bytes, key_id: str, value: str) -> str:
    """One value as ``enc1:<key id>:<base64>``."""
    nonce = os.urandom(NONCE_BYTES)
    body = _aes(key).encrypt(nonce, value.encode(), key_id.encode())
    return f"{PREFIX}{key_id}:{base64.b64encode(nonce + body).decode()}"


def decrypt_value(keys: dict[str, bytes], value: str) -> str:
    """The plaintext of one ``enc1:`` value; :class:`EncryptionError` if it cannot be."""
    from cryptography.exceptions import InvalidTag

    try:
        key_id, blob = value[len(PREFIX) :].split(":", 1)
        raw = base64.b64decode(blob, validate=True)
    except ValueError:
        raise EncryptionError("malformed encrypted value") from None
    if key_id not in keys:
        raise EncryptionError(f"data key {key_id} is destroyed or unknown")
    try:
        return (
            _aes(keys[key_id])
            .decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], key_id.encode())
            .decode()
        )
    except InvalidTag:
        raise EncryptionError(f"encrypted value under {key_id} fails authentication") from None


def _classified() -> dict[str, set[str]]:
    from ray_platform.contracts.silver import CONTRACTS

    return {
        name: {
            c.name
            for c in contract.columns
            if c.classification in ENCRYPTED_CLASSES and c.name not in CLEAR_FOR_COMPUTE
        }
        for name, contract in CONTRACTS.items()
    }


def encrypted_columns(dataset: str, names: Sequence[str]) -> list[str]:
    """Which of ``names`` a table at ``dataset`` (``silver/customers``...) stores encrypted.

    Silver tables: their contract's Confidential and Restricted columns (less
    :data:`CLEAR_FOR_COMPUTE`); quarantine tables: the raw ``payload`` and the ``reason``
    (which quotes the failing value); gold and warehouse
    tables: columns named as one of those (a column keeps its classification downstream).
    """
    from ray_platform.lake import layout

    if dataset.startswith(layout.QUARANTINE + "/"):
        return [n for n in names if n in ("payload", "reason")]
    classified = _classified()
    zone, _, table = dataset.partition("/")
    if zone == layout.SILVER:
        wanted = classified.get(table, set())
    else:
        wanted = set().union(*classified.values())
    return [n for n in names if n in wanted]


def encrypt_columns(
    table: pa.Table, dataset: str, settings: Settings | None = None, ring: KeyRing | None = None
) -> pa.Table:
    """``table`` with its classified columns encrypted under ``dataset``'s key.

    A no-op while encryption is off; values already encrypted (copied from another table) are
    kept as they are.
    """
    s = settings or get_settings()
    columns = encrypted_columns(dataset, table.column_names)
    if not columns or not table.num_rows or not encryption_enabled(s):
        return table
    ring = ring or KeyRing(s)
    key_id = table_key_id(dataset)
    key = ring.key(key_id, purpose=f"table:{dataset}")
    aes = _aes(key)
    aad = key_id.encode()
    for name in columns:
        col = table.column(name)
        if not _texty(col.type):
            continue
        out = []
        for v in col.to_pylist():
            if v is None or v.startswith(PREFIX):
                out.append(v)
            else:
                nonce = os.urandom(NONCE_BYTES)
                blob = base64.b64encode(nonce + aes.encrypt(nonce, v.encode(), aad)).decode()
                out.append(f"{PREFIX}{key_id}:{blob}")
        idx = table.column_names.index(name)
        encrypted = pa.array(out, pa.large_string()).cast(col.type)
        table = table.set_column(idx, table.schema.field(idx), encrypted)
    return table


def decrypt_columns(
    table: pa.Table, dataset: str = "", settings: Settings | None = None,
    ring: KeyRing | None = None,
) -> pa.Table:  # fmt: skip
    """``table`` with every ``enc1:`` value decrypted, whatever table encrypted it.

    Raises :class:`EncryptionError` on a tampered value or a destroyed key. ``dataset`` is only
    for the message; the key is named by each value.
    """
    ring_: KeyRing | None = ring
    for idx, field in enumerate(table.schema):
        if not _texty(field.type):
            continue
        col = table.column(idx)
        marked = pc.starts_with(col.cast(pa.large_string()), PREFIX)
        if not pc.any(marked).as_py():
            continue
        values = col.to_pylist()
        ids = {v[len(PREFIX) :].split(":", 1)[0] for v in values if v and v.startswith(PREFIX)}
        ring_ = ring_ or KeyRing(settings or get_settings())
        keys = ring_.readable(ids)
        try:
            out = [decrypt_value(keys, v) if v and v.startswith(PREFIX) else v for v in values]
        except EncryptionError as exc:
            raise EncryptionError(f"{dataset or 'table'}.{field.name}: {exc}") from None
        table = table.set_column(idx, field, pa.array(out, pa.large_string()).cast(field.type))
    return table


def _texty(typ: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ)
    )


# -- bronze files ------------------------------------------------------------------------------


def personal_feed(source: str, name: str) -> str | None:
    """The format (``csv`` or ``jsonl``) of a file of personal records, else None.

    A file holds personal records when its contract has a customer id.

    Kafka batches (``<topic>-p<partition>-<from>-<to>.jsonl``) belong to the contract that
    streams that topic.
    """
    from ray_platform.contracts.silver import CONTRACTS
    from ray_platform.lake.kafka_landing import stream_source

    base = name.rsplit("/", 1)[-1]
    for contract in CONTRACTS.values():
        topics = contract.stream_topics
        # Batches land under the topic's own source folder (card_transactions_stream), not the
        # contract's file source: both are this contract's personal records.
        if source != contract.source and source not in {stream_source(t) for t in topics}:
            continue
        named = contract.matches_file(base)
        streamed = any(base.startswith(f"{t}-p") for t in topics)
        if not (named or streamed):
            continue
        paths = [c.path for c in contract.columns]
        if not any(p.rsplit(".", 1)[-1] == "customer_id" for p in paths):
            return None
        return "csv" if contract.format == "csv" else "jsonl"
    return None


_JSON_ID = r'"customer_id"\s*:\s*"(?P<id>[^"\\]*)"'


def _lines(data: bytes) -> pa.LargeBinaryArray:
    """The file's lines, each with its line break, as one zero-copy array."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    if not len(ends) or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    offsets = np.concatenate([[0], ends]).astype(np.int64)
    if len(data) == 0:
        offsets = np.zeros(1, np.int64)
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _owners(lines: pa.LargeBinaryArray, fmt: str) -> pa.Array:
    """The customer id of each line (null: no customer)."""
    text = lines.cast(pa.large_string())
    if fmt == "csv":
        header = text[0].as_py().rstrip("\r\n").split(",") if len(text) else []
        if "customer_id" not in header:
            return pa.nulls(len(text), pa.large_string())
        k = header.index("customer_id")
        field = r'(?:"[^"]*"|[^,"\r\n]*)'
        got = pc.struct_field(pc.extract_regex(text, rf"^(?:{field},){{{k}}}(?P<id>{field})"), [0])
        got = pc.utf8_trim(got, '"')
        got = pc.if_else(pc.equal(pc.utf8_length(got), 0), pa.scalar(None, got.type), got)
        return pc.if_else(pa.array(np.arange(len(text)) == 0), pa.scalar(None, got.type), got)
    return pc.struct_field(pc.extract_regex(text, _JSON_ID), [0])


def seal_bronze(data: bytes, source: str, name: str, settings: Settings | None = None,
                ring: KeyRing | None = None) -> bytes:  # fmt: skip
    """A personal bronze file's bytes, sealed: one AES-GCM frame per customer's records."""
    s = settings or get_settings()
    ring = ring or KeyRing(s)
    feed = personal_feed(source, name)
    gz = name.endswith(".gz") or data[:2] == b"\x1f\x8b"
    plain = data
    if gz:
        try:
            plain = gzip.decompress(data)
        except (OSError, EOFError) as exc:  # landed all the same; sealed whole
            log.warning("%s: cannot decompress (%s); sealed as one frame", name, exc)
            gz, feed = False, None
    file_key = "f-" + uuid.uuid4().hex
    lines = _lines(plain)
    owners: pa.Array | None = None
    if feed is not None:
        try:
            owners = _owners(lines, feed)
        except pa.ArrowInvalid:  # not UTF-8: no record is attributable
            owners = None
    if owners is None:
        owners = pa.nulls(len(lines), pa.large_string())
    # Group lines by owner with integer codes ("" is the file's own key), stable in file order.
    coded = pc.dictionary_encode(pc.fill_null(owners, ""))
    names = coded.dictionary.to_pylist()
    customer_keys = customer_key_ids([n for n in names if n], s)
    key_ids = [customer_keys[n] if n else file_key for n in names]
    keys = ring.keys([k for k in key_ids if k != file_key], purpose="customer")
    keys[file_key] = ring.key(file_key, purpose=f"file:{source}/{name}")
    codes = coded.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable").astype(np.int64)
    ordered = lines.take(pa.array(order, pa.int64()))
    offsets = np.frombuffer(ordered.buffers()[1], np.int64)[ordered.offset :][: len(ordered) + 1]
    body = ordered.buffers()[2].to_pybytes() if len(ordered) else b""
    sorted_codes = codes[order]
    cuts = [0, *(np.flatnonzero(np.diff(sorted_codes)) + 1), len(codes)] if len(codes) else [0]
    header: dict[str, Any] = {"v": 1, "gzip": gz, "frames": []}
    blobs: list[bytes] = []
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        key_id = key_ids[sorted_codes[a]]
        lengths = np.diff(offsets[a : b + 1]).astype(_U32)
        payload = b"".join(
            [struct.pack(">I", b - a), order[a:b].astype(_U32).tobytes(),
             lengths.tobytes(), body[offsets[a] : offsets[b]]]
        )  # fmt: skip
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + _aes(keys[key_id]).encrypt(nonce, payload, f"{key_id}|{i}".encode())
        header["frames"].append([key_id, len(blob)])
        blobs.append(blob)
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([BRONZE_MAGIC, struct.pack(">I", len(head)), head, *blobs])


@dataclass
class OpenedBronze:
    """A sealed bronze file opened: its bytes, and the frames whose key is destroyed."""

    data: bytes
    shredded_frames: int
    frames: int


def frame_keys(sealed: bytes) -> list[str]:
    """The key id of each frame of a sealed file (read from its header, nothing decrypted)."""
    return [k for k, _ in _header(sealed)[0]["frames"]]


def _header(sealed: bytes) -> tuple[dict[str, Any], int]:
    if not sealed.startswith(BRONZE_MAGIC):
        raise EncryptionError("not a sealed bronze file")
    at = len(BRONZE_MAGIC)
    (n,) = struct.unpack(">I", sealed[at : at + 4])
    try:
        header = json.loads(sealed[at + 4 : at + 4 + n])
    except ValueError:
        raise EncryptionError("sealed bronze file has a corrupt header") from None
    return header, at + 4 + n


def open_bronze(sealed: bytes, settings: Settings | None = None, ring: KeyRing | None = None,
                only: set[str] | None = None) -> OpenedBronze:  # fmt: skip
    """The original bytes of a sealed file, less the records under destroyed keys.

    ``only`` restricts to frames under those key ids (a subject-access export). Raises
    :class:`EncryptionError` when a frame fails authentication (tampered).
    """
    from cryptography.exceptions import InvalidTag

    header, at = _header(sealed)
    ring = ring or KeyRing(settings or get_settings())
    wanted = [k for k, _ in header["frames"] if only is None or k in only]
    keys = ring.readable(wanted)
    ordinals, lengths, datas = [], [], []
    shredded = 0
    for i, (key_id, size) in enumerate(header["frames"]):
        blob, at = sealed[at : at + size], at + size
        if only is not None and key_id not in only:
            continue
        if key_id not in keys:
            shredded += 1
            continue
        try:
            payload = _aes(keys[key_id]).decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], f"{key_id}|{i}".encode()
            )
        except InvalidTag:
            raise EncryptionError(f"bronze frame {i} under {key_id} fails authentication") from None
        (n,) = struct.unpack(">I", payload[:4])
        ordinals.append(np.frombuffer(payload, _U32, n, 4))
        lengths.append(np.frombuffer(payload, _U32, n, 4 + 4 * n))
        datas.append(payload[4 + 8 * n :])
    if not ordinals:
        plain = b""
    else:
        order = np.argsort(np.concatenate(ordinals), kind="stable")
        lens = np.concatenate(lengths).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        arr = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(),
            len(lens),
            [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(datas))],
        )
        out = arr.take(pa.array(order, pa.int64()))
        offs = np.frombuffer(out.buffers()[1], np.int64)[out.offset :][: len(out) + 1]
        plain = out.buffers()[2].to_pybytes()[offs[0] : offs[-1]] if len(out) else b""
    if header.get("gzip"):
        plain = gzip.compress(plain, compresslevel=1, mtime=0)
    return OpenedBronze(plain, shredded, len(header["frames"]))


def read_bronze(storage: Storage, path: str, settings: Settings | None = None) -> bytes:
    """A bronze file's bytes as landed (opened if sealed, less erased customers' records)."""
    with storage.open(path) as fh:
        data = fh.read()
    if data.startswith(BRONZE_MAGIC):
        return open_bronze(data, settings).data
    return data  # type: ignore[no-any-return]


class _SealingWriter(io.RawIOBase):
    """Collects a file's bytes and writes them sealed on close (nothing in clear on disk)."""

    def __init__(self, storage: Storage, path: str, source: str, name: str, settings: Settings):
        self._buf = io.BytesIO()
        self._target = (storage, path, source, name, settings)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._buf.write(data)

    def close(self) -> None:
        if not self.closed:
            storage, path, source, name, settings = self._target
            sealed = seal_bronze(self._buf.getvalue(), source, name, settings)
            with storage.open(path, "wb") as out:
                out.write(sealed)
            self._buf = io.BytesIO()
        super().close()


def bronze_writer(storage: Storage, path: str, source: str, name: str,
                  settings: Settings | None = None) -> IO[bytes]:  # fmt: skip
    """Where to write a bronze file: sealed if it holds personal records and encryption is on."""
    s = settings or get_settings()
    if personal_feed(source, name) is not None and encryption_enabled(s):
        return _SealingWriter(storage, path, source, name, s)  # type: ignore[return-value]
    return storage.open(path, "wb")  # type: ignore[no-any-return]
