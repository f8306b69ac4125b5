"""The schema registry keeps its schemas, ids and subject settings across a restart.

Runs its own registry (own home, own free port), not the session's shared one: the test stops
and restarts it. The home is a fixed folder under the test home so the Maven build made there
on the first run is reused; its data folder is removed first, so every run starts empty.
"""

from __future__ import annotations

import shutil
import socket

import pytest

from ray_platform.avro_codec import AvroDecoder, AvroSerializer, RegistryClient
from ray_platform.services.registry import SchemaRegistry
from ray_platform.settings import get_settings, load_settings

pytestmark = pytest.mark.integration

TOPIC = "persist-test"
SUBJECT = "persist-test-value"
SCHEMA = {
    "type": "record",
    "name": "PersistTest",
    "namespace": "com.globalbank.test",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": "long"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}
RECORD = {"id": "P1", "amount": 1250, "note": "kept across restarts"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_registry():
    home = get_settings().home / "registry-persist"
    shutil.rmtree(home / "registry" / "data", ignore_errors=True)
    settings = load_settings(home=home, schema_registry_url=f"http://127.0.0.1:{free_port()}")
    registry = SchemaRegistry(settings)
    try:
        yield registry, settings
    finally:
        registry.stop()


def test_schemas_ids_and_compatibility_survive_a_restart(own_registry):
    registry, settings = own_registry
    assert registry.start()  # this test's registry, never one already answering
    ser = AvroSerializer(TOPIC, SCHEMA, settings=settings)
    value = ser.encode(RECORD)
    schema_id = ser.schema_id
    client = RegistryClient(settings)
    assert client.compatibility(SUBJECT) == "FULL"

    assert registry.stop()
    assert not registry.answers()
    assert registry.start()

    assert client.schema(schema_id) == SCHEMA
    assert AvroDecoder(settings=settings, retries=0).decode(value) == RECORD
    assert client.register(SUBJECT, SCHEMA) == schema_id
    assert client.compatibility(SUBJECT) == "FULL"
    assert registry.data_dir == settings.home / "registry" / "data"
    assert any(registry.data_dir.iterdir())
