from __future__ import annotations

from pathlib import Path

import pytest

from ray_platform.errors import ConfigError
from ray_platform.settings import load_settings

pytestmark = pytest.mark.unit


def test_defaults_are_embedded_and_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in ("GBANK_HOME", "GBANK_LAKE_URI", "GBANK_LANDING_URI", "GBANK_MLFLOW_URI"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert s.home == tmp_path / ".gbank"
    assert s.lake_uri == (tmp_path / ".gbank" / "lake").as_uri()
    assert s.landing_uri == (tmp_path / ".gbank" / "landing").as_uri()
    assert s.mlflow_uri.startswith("sqlite:///") and s.mlflow_uri.endswith("mlflow.db")
    assert s.kafka_bootstrap == "127.0.0.1:9092"


def test_environment_overrides_toml_which_overrides_defaults(monkeypatch, tmp_path):
    cfg = tmp_path / "gbank.toml"
    cfg.write_text('kafka_partitions = 8\nregion = "apac"\nlake_uri = "s3://lake/root"\n')
    monkeypatch.setenv("GBANK_CONFIG", str(cfg))
    monkeypatch.setenv("GBANK_REGION", "us")
    monkeypatch.delenv("GBANK_LAKE_URI", raising=False)
    s = load_settings()
    assert s.kafka_partitions == 8  # from the file
    assert s.region == "us"  # the environment wins
    assert s.lake_uri == "s3://lake/root"


def test_invalid_values_raise_one_config_error(monkeypatch):
    monkeypatch.setenv("GBANK_REGION", "mars")
    with pytest.raises(ConfigError, match="region"):
        load_settings()


def test_unknown_toml_key_is_refused(monkeypatch, tmp_path):
    cfg = tmp_path / "gbank.toml"
    cfg.write_text("kafka_bootstrapp = 'typo:9092'\n")
    monkeypatch.setenv("GBANK_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="kafka_bootstrapp"):
        load_settings()


def test_as_env_round_trips(monkeypatch, tmp_path):
    s = load_settings(home=Path(tmp_path), region="apac")
    for key, value in s.as_env().items():
        monkeypatch.setenv(key, value)
    assert load_settings() == s
