"""The connector, the worker and the lake agree on topics; the rendered configs are complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ray_platform.lake.debezium import CDC_STREAMS, LANDED_TOPICS
from ray_platform.services.connect import CDC_TOPICS, ConnectWorker
from ray_platform.services.postgres import SCHEMA_SQL, PostgresServer, _cluster_dir
from ray_platform.settings import load_settings

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(tmp_path):
    return load_settings(
        home=tmp_path, postgres_address="127.0.0.1:5999", connect_address="127.0.0.1:8999"
    )


def test_connector_topics_are_the_ones_the_lake_lands(settings):
    config = ConnectWorker(settings).connector_config()
    # Debezium names a table's topic <topic.prefix>.<schema>.<table>.
    topics = {f"{config['topic.prefix']}.{t}" for t in config["table.include.list"].split(",")}
    assert topics == set(CDC_TOPICS) == set(LANDED_TOPICS)
    assert set(CDC_STREAMS.values()) <= topics
    for table in config["table.include.list"].split(","):
        assert f"CREATE TABLE IF NOT EXISTS {table} (" in SCHEMA_SQL.read_text()


def test_connector_reads_the_configured_database(settings):
    config = ConnectWorker(settings).connector_config()
    assert (config["database.hostname"], config["database.port"]) == ("127.0.0.1", "5999")
    assert config["database.dbname"] == "core" and config["plugin.name"] == "pgoutput"
    # The converter relies on these encodings (lake.debezium): decimals as text, and no
    # tombstone after a delete (the landing would skip it, but it costs an offset per delete).
    assert config["decimal.handling.mode"] == "string"
    assert config["tombstones.on.delete"] == "false"
    assert "$" not in "".join(config.values())  # every placeholder filled


def test_worker_properties_render_every_placeholder(settings):
    worker = ConnectWorker(settings)
    worker.dir.mkdir(parents=True)
    worker._render_config()
    props = dict(
        line.split("=", 1)
        for line in worker.config_file.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert props["bootstrap.servers"] == settings.kafka_bootstrap
    assert props["listeners"] == "http://127.0.0.1:8999"
    assert props["offset.storage.file.filename"] == str(worker.offsets_file)
    assert props["value.converter.schemas.enable"] == "false"  # plain envelopes, no schema


def test_postgres_dsn_follows_the_settings(settings):
    server = PostgresServer(settings)
    assert server.dsn() == "host=127.0.0.1 port=5999 user=gbank dbname=core"
    assert server.data == server.dir / "data"


def test_cluster_moves_out_of_a_home_the_postgres_user_cannot_reach(tmp_path):
    open_home = Path("/tmp") / f"gbank-unit-{os.getpid()}" / "postgres"  # /tmp is world-x
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    moved = _cluster_dir(closed / "postgres")
    assert _cluster_dir(open_home) == open_home
    if os.geteuid() == 0:  # the server runs as the postgres user only when root starts it
        assert moved.parent == Path("/var/lib/postgresql/gbank")
        assert moved == _cluster_dir(closed / "postgres")  # stable: one cluster per home
    else:
        assert moved == closed / "postgres"
