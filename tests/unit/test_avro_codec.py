"""The Confluent wire format and the decoder's caching and retries, with a registry stand-in.

The real registry's behaviour (compatibility, ids) is tested in
tests/integration/test_registry_avro.py; here only what the codec itself decides.
"""

from __future__ import annotations

import copy
import json

import pytest

from ray_platform.avro_codec import (
    AvroDecoder,
    AvroSerializer,
    avro_schema_for,
    card_transaction_schema,
    frame,
    subject_for,
    unframe,
)
from ray_platform.errors import SchemaIncompatible, UndecodableMessage, UnknownSchemaId
from ray_platform.generator.schema import CARD_TRANSACTIONS

pytestmark = pytest.mark.unit

TX = {
    "transaction_id": "T1",
    "card_id": "C1",
    "account_id": "A1",
    "customer_id": "CU1",
    "merchant_id": "M1",
    "merchant_name": "Shop",
    "mcc": "5411",
    "merchant_country": "GB",
    "amount": "12.34",
    "currency": "GBP",
    "timestamp": "2026-01-02T03:04:05Z",
    "channel": "pos",
    "device_id": "D1",
    "ip_country": "GB",
    "is_fraud": 0,
    "fraud_pattern": None,
}


class FakeRegistry:
    """Ids in registration order; ``refuse`` makes register raise like a 409."""

    def __init__(self) -> None:
        self.schemas: dict[int, dict] = {}
        self.levels: dict[str, str] = {}
        self.lookups = 0
        self.refuse = False

    def register(self, subject: str, schema: dict) -> int:
        if self.refuse:
            raise SchemaIncompatible(f"schema registry refused the new schema for {subject}")
        for sid, known in self.schemas.items():
            if known == schema:
                return sid
        sid = len(self.schemas) + 1
        self.schemas[sid] = copy.deepcopy(schema)
        return sid

    def set_compatibility(self, subject: str, level: str) -> None:
        self.levels[subject] = level

    def compatibility(self, subject: str) -> str | None:
        return self.levels.get(subject)

    def schema(self, schema_id: int) -> dict | None:
        self.lookups += 1
        return self.schemas.get(schema_id)


def test_frame_is_magic_byte_then_big_endian_id_then_body() -> None:
    value = frame(258, b"body")
    assert value == b"\x00\x00\x00\x01\x02body"
    assert unframe(value) == (258, b"body")


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"\x00\x00\x01", "shorter"), (b"\x01\x00\x00\x00\x01xx", "magic byte 1")],
)
def test_unframe_refuses_what_is_not_the_wire_format(value: bytes, reason: str) -> None:
    with pytest.raises(UndecodableMessage, match=reason):
        unframe(value)


def test_card_schema_has_every_generator_field_and_optional_ones_default_to_null() -> None:
    schema = card_transaction_schema()
    fields = {f["name"]: f for f in schema["fields"]}
    assert list(fields) == [f.name for f in CARD_TRANSACTIONS.fields]
    assert fields["is_fraud"]["type"] == "long"
    assert fields["amount"]["type"] == "string"  # the JSON text form, exact decimals
    assert fields["fraud_pattern"] == {
        "name": "fraud_pattern",
        "type": ["null", "string"],
        "default": None,
    }
    assert avro_schema_for(CARD_TRANSACTIONS, "X")["name"] == "X"


def test_round_trip_registers_once_under_the_topic_subject_with_full_compatibility() -> None:
    reg = FakeRegistry()
    ser = AvroSerializer("cards", card_transaction_schema(), registry=reg)
    values = [ser.encode({**TX, "transaction_id": f"T{i}"}) for i in range(3)]
    assert reg.levels == {subject_for("cards"): "FULL"}
    assert {unframe(v)[0] for v in values} == {1}
    dec = AvroDecoder(reg, backoff_s=0)
    assert [dec.decode(v)["transaction_id"] for v in values] == ["T0", "T1", "T2"]
    assert dec.decode(values[1]) == TX
    assert reg.lookups == 1  # the writer schema is fetched once, then cached


def test_old_reader_schema_reads_a_record_with_a_new_optional_field() -> None:
    reg = FakeRegistry()
    v1 = card_transaction_schema()
    v2 = copy.deepcopy(v1)
    v2["fields"].append({"name": "wallet", "type": ["null", "string"], "default": None})
    value = AvroSerializer("cards", v2, registry=reg).encode({**TX, "wallet": "apple"})
    assert AvroDecoder(reg, backoff_s=0).decode(value)["wallet"] == "apple"
    old = AvroDecoder(reg, reader_schema=v1, backoff_s=0).decode(value)
    assert "wallet" not in old
    assert old == TX


def test_refused_schema_surfaces_as_schema_incompatible_on_first_encode() -> None:
    reg = FakeRegistry()
    reg.refuse = True
    with pytest.raises(SchemaIncompatible, match="cards-value"):
        AvroSerializer("cards", card_transaction_schema(), registry=reg).encode(TX)


def test_unknown_id_is_asked_again_then_raises_unknown_schema_id() -> None:
    reg = FakeRegistry()
    dec = AvroDecoder(reg, retries=2, backoff_s=0)
    with pytest.raises(UnknownSchemaId, match=r"schema id 7 .* 3 tries"):
        dec.decode(frame(7, b"\x02"))
    assert reg.lookups == 3
    assert issubclass(UnknownSchemaId, UndecodableMessage)  # callers dead-letter both alike


def test_an_id_registered_during_the_retries_is_found() -> None:
    reg = FakeRegistry()
    value = AvroSerializer("cards", card_transaction_schema(), registry=reg).encode(TX)
    late = reg.schemas.pop(1)
    calls = {"n": 0}
    real = reg.schema

    def schema(sid: int) -> dict | None:
        calls["n"] += 1
        if calls["n"] == 2:
            reg.schemas[1] = late
        return real(sid)

    reg.schema = schema  # type: ignore[method-assign]
    assert AvroDecoder(reg, retries=3, backoff_s=0).decode(value) == TX
    assert calls["n"] == 2


@pytest.mark.parametrize(
    "mangle",
    [lambda v: v[:-3], lambda v: v + b"\x00\x00", lambda v: v[:5] + b"\xff" * 4],
    ids=["truncated", "trailing-bytes", "garbage-body"],
)
def test_a_body_that_does_not_decode_raises_undecodable(mangle) -> None:
    reg = FakeRegistry()
    value = AvroSerializer("cards", card_transaction_schema(), registry=reg).encode(TX)
    with pytest.raises(UndecodableMessage, match="schema id 1"):
        AvroDecoder(reg, backoff_s=0).decode(mangle(value))


def test_decode_any_takes_json_objects_and_avro_alike() -> None:
    reg = FakeRegistry()
    dec = AvroDecoder(reg, backoff_s=0)
    value = AvroSerializer("cards", card_transaction_schema(), registry=reg).encode(TX)
    assert dec.decode_any(json.dumps(TX).encode()) == TX
    assert dec.decode_any(value) == TX
    with pytest.raises(UndecodableMessage, match="JSON"):
        dec.decode_any(b"{not json")


def test_a_registry_that_does_not_answer_is_a_service_error_not_a_dead_letter() -> None:
    from ray_platform.avro_codec import RegistryClient
    from ray_platform.errors import ServiceError
    from ray_platform.settings import load_settings

    client = RegistryClient(load_settings(schema_registry_url="http://127.0.0.1:9"), timeout=2)
    dec = AvroDecoder(client, backoff_s=0)
    with pytest.raises(ServiceError, match="gbank registry start") as caught:
        dec.decode(frame(1, b"\x02"))
    assert not isinstance(caught.value, UndecodableMessage)  # an outage stops the reader
