"""Typed settings for every part of the platform.

Values come, highest precedence first, from keyword arguments, ``GBANK_*`` environment
variables, an optional TOML file (``GBANK_CONFIG``, else ``gbank.toml`` in the working folder),
and the defaults below. The defaults run the whole platform embedded on one machine, with no
configuration, under ``GBANK_HOME`` (``./.gbank`` unless set).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ray_platform.errors import ConfigError

Region = Literal["us", "eu", "apac"]


def _config_file() -> Path:
    return Path(os.environ.get("GBANK_CONFIG", "gbank.toml"))


class Settings(BaseSettings):
    """Root settings; every field maps to ``GBANK_<FIELD>`` and to a key in the TOML file."""

    model_config = SettingsConfigDict(env_prefix="GBANK_", extra="forbid", frozen=True)

    home: Path = Field(
        default=Path(".gbank"),
        description="Runtime folder for embedded services, logs and the default lake.",
    )
    lake_uri: str = Field(
        default="",
        description="Root of the lake: file:///path or s3://bucket/prefix. "
        "Default: file://<home>/lake.",
    )
    landing_uri: str = Field(
        default="",
        description="Where source systems drop their files. Default: file://<home>/landing.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint for s3:// URIs (an S3-compatible server); None means AWS.",
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated."
    )
    kafka_partitions: int = Field(
        default=4, ge=1, le=256, description="Partitions for the platform's topics."
    )
    mlflow_uri: str = Field(
        default="",
        description="MLflow tracking URI. Default: sqlite:///<home>/mlflow/mlflow.db.",
    )
    feast_repo: Path = Field(
        default=Path("features/repo"), description="Path of the Feast feature repository."
    )
    online_store: Literal["sqlite", "redis"] = Field(
        default="sqlite",
        description="Feast online store: 'sqlite' (embedded, <home>/feast/online.db) or "
        "'redis' (production).",
    )
    redis_address: str = Field(
        default="127.0.0.1:6379",
        description="Redis host:port for the online store (Feast connection string).",
    )
    postgres_address: str = Field(
        default="127.0.0.1:5433",
        description="host:port of the core-banking PostgreSQL (`gbank postgres start`).",
    )
    connect_address: str = Field(
        default="127.0.0.1:8083",
        description="host:port of the Kafka Connect worker's REST API (Debezium CDC).",
    )
    schema_registry_url: str = Field(
        default="http://127.0.0.1:8081",
        description="Schema registry base URL (Apicurio, `gbank registry start`); the "
        "Confluent-compatible API is under /apis/ccompat/v7.",
    )
    fraud_config: Path = Field(
        default=Path("models/config/fraud_xgb.yaml"),
        description="Hyperparameters and training window of the fraud model (YAML).",
    )
    ray_address: str = Field(
        default="auto",
        description="Ray cluster to join: 'auto' finds the local cluster, 'local' starts an "
        "in-process one, or ray://host:10001.",
    )
    ray_dashboard_url: str = Field(
        default="http://127.0.0.1:8265",
        description="Ray dashboard and job-submission address.",
    )
    ray_head_port: int = Field(
        default=6380, description="GCS port of the local Ray head (6379 is left to Redis)."
    )
    ray_head_cpus: int = Field(default=1, ge=1, description="CPUs the local Ray head offers.")
    ray_worker_cpus: int = Field(default=1, ge=1, description="CPUs the local Ray worker offers.")
    ray_object_store_mb: int = Field(
        default=1024, ge=100, description="Object store per local Ray node, in MiB."
    )
    region: Region = Field(default="eu", description="Region this deployment serves.")
    region_root_uri: str = Field(
        default="",
        description="Root of each region's own lake/ and landing/ for data residency, with "
        "{region} in it (us, eu, apac). Default: file://<home>/regions/{region}.",
    )
    reporting_currency: str = Field(
        default="EUR",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency for reporting amounts.",
    )

    user: str = Field(
        default="gbank", description="Identity the CLI reads as when `--user` is not given."
    )
    role: str = Field(
        default="data_engineer",
        description="Role the CLI reads as when `--role` is not given (see the access policy).",
    )
    access_policy: Path = Field(
        default=Path("ray_platform/governance/policy.yaml"),
        description="Access-control and masking policy (roles, zones, classifications).",
    )
    kms: Literal["local", "aws"] = Field(
        default="local",
        description="Key management: a local key file under GBANK_HOME/keys, or AWS KMS.",
    )
    kms_key_id: str | None = Field(
        default=None, description="AWS KMS key id or ARN (with GBANK_KMS=aws)."
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate for the HTTP services; unset: a dev certificate on first use.",
    )
    tls_key_file: Path | None = Field(
        default=None, description="PEM private key matching GBANK_TLS_CERT_FILE."
    )
    api_address: str = Field(
        default="127.0.0.1:8088", description="host:port the query API and dashboard listen on."
    )
    api_rate_limit_per_minute: int = Field(
        default=120, ge=1, description="Query API requests one user may make per minute."
    )
    api_query_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds a query API SQL statement may run."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        # Absolute paths: jobs submitted with `ray job submit --working-dir .` run in a copy of
        # the project, so a relative home would point at a different lake in every job.
        home = self.home.expanduser().resolve()
        object.__setattr__(self, "home", home)
        if not self.lake_uri:
            object.__setattr__(self, "lake_uri", (home / "lake").as_uri())
        if not self.landing_uri:
            object.__setattr__(self, "landing_uri", (home / "landing").as_uri())
        if not self.region_root_uri:
            object.__setattr__(self, "region_root_uri", (home / "regions").as_uri() + "/{region}")
        if not self.mlflow_uri:
            object.__setattr__(self, "mlflow_uri", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
        return self

    def as_env(self) -> dict[str, str]:
        """These settings as ``GBANK_*`` variables, to hand to services and Ray jobs."""
        env = {}
        for name, value in self.model_dump().items():
            if value is not None:
                env[f"GBANK_{name.upper()}"] = str(value)
        return env


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_path(path: Path | str) -> Path:
    """A project file named by a setting: relative paths are relative to the project root.

    Not to the current directory: jobs run from a copy of the project and move to their home.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once; raises :class:`ConfigError` when invalid."""
    return load_settings()


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment and TOML file, with optional overrides."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from None


def settings_table_markdown() -> str:
    """The settings as the Markdown table in the README (kept true by a unit test)."""
    rows = ["| Variable | Default | Description |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = {"": "(derived)", None: "(unset)"}.get(info.default, info.default)
        if name == "home":
            default = "./.gbank"
        rows.append(f"| `GBANK_{name.upper()}` | `{default}` | {info.description} |")
    return "\n".join(rows)
