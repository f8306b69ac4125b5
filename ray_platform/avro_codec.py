"""Avro records in the Confluent wire format, with their schemas in the schema registry.

A value on an Avro topic is ``0x00`` (magic byte), the writer schema's registry id as a 4-byte
big-endian integer, then the Avro binary body (fastavro's schemaless encoding). Producers
register their schema under the subject ``<topic>-value``; consumers read the id, fetch the
writer schema once (cached) and decode, optionally resolving into an older *reader* schema, so
a consumer built against version 1 keeps reading what a version-2 producer writes.

Every subject is set to ``FULL`` compatibility before a producer registers into it. The issue
asked for BACKWARD; Avro's BACKWARD (new readers read old data) accepts a schema that *removes*
a required field, which is exactly what breaks an old consumer — the registry was checked to
accept it. FULL adds the FORWARD check (old readers read new data) and refuses that removal,
while still accepting a new optional field with a default.

JSON stays supported: :func:`decode_any` decodes plain JSON objects too (first byte ``{``), for
simple producers on their own topic such as ``transactions.json``::

    ser = AvroSerializer("transactions", card_transaction_schema())
    value = ser.encode(record)  # registers the schema on first use
    AvroDecoder().decode(value) == record
"""

from __future__ import annotations

import io
import json
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

import fastavro

from ray_platform.errors import (
    SchemaIncompatible,
    ServiceError,
    UndecodableMessage,
    UnknownSchemaId,
)
from ray_platform.settings import Settings, get_settings

if TYPE_CHECKING:
    from ray_platform.generator.schema import FileSpec

MAGIC = 0
HEADER = struct.Struct(">bI")
"""Magic byte and schema id, the five bytes in front of every Avro body."""
CCOMPAT_PATH = "/apis/ccompat/v7"
DEFAULT_COMPATIBILITY = "FULL"
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# Generator field types whose text form is a JSON number; the rest travel as strings.
_LONG_TYPES = {"int", "epoch_ms"}


def frame(schema_id: int, body: bytes) -> bytes:
    """The wire value: magic byte, 4-byte schema id, Avro body."""
    if not 0 <= schema_id < 2**31:
        raise ValueError(f"schema id {schema_id} does not fit the 4-byte header")
    return HEADER.pack(MAGIC, schema_id) + body


def unframe(value: bytes) -> tuple[int, bytes]:
    """Split a wire value into ``(schema_id, body)``; :class:`UndecodableMessage` if not framed."""
    if len(value) < HEADER.size:
        raise UndecodableMessage(f"value of {len(value)} bytes is shorter than the Avro header")
    magic, schema_id = HEADER.unpack_from(value)
    if magic != MAGIC:
        raise UndecodableMessage(f"magic byte {magic} is not the Confluent wire format's 0")
    return schema_id, value[HEADER.size :]


def subject_for(topic: str) -> str:
    """The registry subject of ``topic``'s values (Confluent's TopicNameStrategy)."""
    return f"{topic}-value"


def avro_schema_for(spec: FileSpec, name: str, namespace: str = "com.globalbank") -> dict:
    """An Avro record schema with one field per field of a generator file spec.

    Values keep the JSON text forms of :mod:`ray_platform.generator.schema` (decimals and
    timestamps as strings) so a decoded record is the same dict the JSON producers send; optional
    fields are ``["null", T]`` with a null default.
    """
    fields: list[dict[str, Any]] = []
    for f in spec.fields:
        kind = "long" if f.type in _LONG_TYPES else "string"
        if f.required:
            fields.append({"name": f.name, "type": kind})
        else:
            fields.append({"name": f.name, "type": ["null", kind], "default": None})
    return {"type": "record", "name": name, "namespace": namespace, "fields": fields}


def card_transaction_schema() -> dict:
    """The card transaction record, derived from the generator's ``card_transactions`` fields."""
    # Imported here: the codec is core and needs the generator's contract for this one schema.
    from ray_platform.generator.schema import CARD_TRANSACTIONS

    return avro_schema_for(CARD_TRANSACTIONS, "CardTransaction", "com.globalbank.cards")


class RegistryClient:
    """The few calls of the Confluent-compatible registry API the platform makes."""

    def __init__(self, settings: Settings | None = None, *, timeout: float = 10.0) -> None:
        s = settings or get_settings()
        self.base = s.schema_registry_url.rstrip("/") + CCOMPAT_PATH
        self.timeout = timeout

    def register(self, subject: str, schema: dict) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id.

        Raises :class:`SchemaIncompatible` with the registry's reason when the subject's
        compatibility rule refuses it.
        """
        quoted = urllib.parse.quote(subject, safe="")
        status, body = self._call("POST", f"/subjects/{quoted}/versions", {"schema": _dump(schema)})
        if status == 409:
            raise SchemaIncompatible(
                f"schema registry refused the new schema for {subject}: {body.get('message', body)}"
            )
        if status != 200:
            raise ServiceError(f"schema registry: registering {subject} answered {status}: {body}")
        return int(body["id"])

    def set_compatibility(self, subject: str, level: str) -> None:
        """Set ``subject``'s compatibility rule (BACKWARD, FORWARD, FULL, NONE, ..._TRANSITIVE)."""
        quoted = urllib.parse.quote(subject, safe="")
        status, body = self._call("PUT", f"/config/{quoted}", {"compatibility": level})
        if status != 200:
            raise ServiceError(f"schema registry: setting {subject} to {level}: {status} {body}")

    def compatibility(self, subject: str) -> str | None:
        """``subject``'s own compatibility rule, or None when it has none set."""
        status, body = self._call("GET", f"/config/{urllib.parse.quote(subject, safe='')}")
        return body.get("compatibilityLevel") if status == 200 else None

    def schema(self, schema_id: int) -> dict | None:
        """The schema with ``schema_id``, or None when the registry does not know the id."""
        status, body = self._call("GET", f"/schemas/ids/{schema_id}")
        if status == 404:
            return None
        if status != 200:
            raise ServiceError(f"schema registry: schema id {schema_id} answered {status}: {body}")
        return json.loads(body["schema"])

    def _call(self, method: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", _CONTENT_TYPE)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {"message": exc.reason}
        except OSError as exc:
            raise ServiceError(
                f"no schema registry answers at {self.base} ({exc}); run `gbank registry start`"
            ) from None


class AvroSerializer:
    """Producer side: encode records for ``topic`` under its registered schema."""

    def __init__(
        self,
        topic: str,
        schema: dict,
        *,
        registry: RegistryClient | None = None,
        compatibility: str = DEFAULT_COMPATIBILITY,
        settings: Settings | None = None,
    ) -> None:
        self.topic = topic
        self.subject = subject_for(topic)
        self.schema = schema
        self.parsed = fastavro.parse_schema(schema)
        self.field_names = frozenset(f["name"] for f in schema["fields"])
        self.registry = registry or RegistryClient(settings)
        self.compatibility = compatibility
        self._id: int | None = None

    @property
    def schema_id(self) -> int:
        """The registry id of this producer's schema, registering it on first use.

        Raises :class:`SchemaIncompatible` when the registry refuses the schema.
        """
        if self._id is None:
            if self.registry.compatibility(self.subject) != self.compatibility:
                self.registry.set_compatibility(self.subject, self.compatibility)
            self._id = self.registry.register(self.subject, self.schema)
        return self._id

    def encode(self, record: dict) -> bytes:
        """One record as a wire value; ValueError when it does not fit the schema."""
        out = io.BytesIO()
        fastavro.schemaless_writer(out, self.parsed, record)
        return frame(self.schema_id, out.getvalue())


class AvroDecoder:
    """Consumer side: decode wire values by their schema id (writer schemas cached).

    ``reader_schema`` makes an old consumer read newer records as its own version (fields it
    does not know are dropped, fields it has and the writer lacks take their defaults). An id
    the registry does not know is asked again ``retries`` times with doubling waits (a producer
    may have registered on another registry replica a moment ago), then raises
    :class:`UnknownSchemaId` so the caller dead-letters the message.
    """

    def __init__(
        self,
        registry: RegistryClient | None = None,
        *,
        reader_schema: dict | None = None,
        retries: int = 3,
        backoff_s: float = 0.2,
        settings: Settings | None = None,
    ) -> None:
        self.registry = registry or RegistryClient(settings)
        self.reader = fastavro.parse_schema(reader_schema) if reader_schema else None
        self.retries = retries
        self.backoff_s = backoff_s
        self._writers: dict[int, Any] = {}
        self._lock = threading.Lock()

    def writer_schema(self, schema_id: int) -> Any:
        """The parsed writer schema of ``schema_id`` (fetched once, then cached)."""
        with self._lock:
            cached = self._writers.get(schema_id)
        if cached is not None:
            return cached
        wait = self.backoff_s
        for attempt in range(self.retries + 1):
            found = self.registry.schema(schema_id)
            if found is not None:
                parsed = fastavro.parse_schema(found)
                with self._lock:
                    self._writers[schema_id] = parsed
                return parsed
            if attempt < self.retries:
                time.sleep(wait)
                wait *= 2
        raise UnknownSchemaId(
            f"schema id {schema_id} is unknown to the registry after {self.retries + 1} tries"
        )

    def decode(self, value: bytes) -> dict:
        """Decode one Avro wire value; :class:`UndecodableMessage` when it does not decode."""
        schema_id, body = unframe(value)
        writer = self.writer_schema(schema_id)
        try:
            buf = io.BytesIO(body)
            record = fastavro.schemaless_reader(buf, writer, self.reader)
        except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, ...
            raise UndecodableMessage(
                f"body does not decode with schema id {schema_id}: {type(exc).__name__}: {exc}"
            ) from None
        if buf.tell() != len(body):
            raise UndecodableMessage(
                f"body has {len(body) - buf.tell()} bytes left over after decoding with schema "
                f"id {schema_id}"
            )
        if not isinstance(record, dict):
            raise UndecodableMessage(f"schema id {schema_id} does not describe a record")
        return record

    def decode_any(self, value: bytes) -> dict:
        """Decode an Avro wire value, or a plain JSON object (first byte ``{``)."""
        if value[:1] == b"{":
            try:
                record = json.loads(value)
            except ValueError as exc:
                raise UndecodableMessage(f"JSON value does not parse: {exc}") from None
            if not isinstance(record, dict):
                raise UndecodableMessage("JSON value is not an object")
            return record
        return self.decode(value)


_default: dict[str, AvroDecoder] = {}


def decode_any(value: bytes, settings: Settings | None = None) -> dict:
    """Decode an Avro wire value or a JSON object with a process-wide cached decoder."""
    s = settings or get_settings()
    decoder = _default.get(s.schema_registry_url)
    if decoder is None:
        decoder = _default.setdefault(s.schema_registry_url, AvroDecoder(settings=s))
    return decoder.decode_any(value)


def _dump(schema: dict) -> str:
    return json.dumps(schema, separators=(",", ":"), sort_keys=True)
