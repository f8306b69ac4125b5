"""Multi-region data residency: each customer's personal data lives only in their home region.

Regions ``us``, ``eu`` and ``apac`` each have a root of their own (``settings.region_root_uri``
with ``{region}`` filled in) holding that region's ``landing/`` and ``lake/``, laid out exactly
like the single-lake deployment's. The home region of a customer is their country's region in
``governance/regions.yaml``. One business date walks::

    landing (ingress)  --route-->  <region root>/landing  --lake ETL-->  <region root>/lake
                                                        (the same run_lake_day, per region)

The router (:mod:`ray_platform.ops.routing`) splits every personal feed record by record into
the regions' landing zones; each region then runs the ordinary lake ETL on its own roots
(:func:`run_regions_day` in-process, :func:`submit_regions_day` as the ``lake_etl`` job per
region). Only gold aggregates without personal data cross regions:
:mod:`ray_platform.ops.replication`.

>>> run_regions_day(dt.date(2026, 1, 5), use_ray=False)["eu"].summary()  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import yaml

from ray_platform.errors import ConfigError, InvalidArgument
from ray_platform.lake import layout
from ray_platform.settings import Region, Settings, get_settings, project_path

if TYPE_CHECKING:
    from ray_platform.lake.pipeline import LakeDayReport
    from ray_platform.services.jobs import JobRun

POLICY_FILE = Path("ray_platform/governance/regions.yaml")
REGIONS: tuple[str, ...] = get_args(Region)
"""Every region, in the settings' order."""
DIRECTORY = layout.system_table("residency_directory")
"""Each region's own ids (customers, accounts, cards) and the region they live in."""


# -- policy and roots --------------------------------------------------------------------------


@dataclass(frozen=True)
class ResidencyPolicy:
    """The home region of each country, and where records no one can place go."""

    countries: dict[str, str]
    descriptions: dict[str, str]
    unattributed: str


@lru_cache(maxsize=4)
def load_policy(path: Path | str = POLICY_FILE) -> ResidencyPolicy:
    """Read and check ``regions.yaml``: every contract country in exactly one known region."""
    from ray_platform.contracts.reference import COUNTRIES

    file = project_path(path)
    try:
        raw = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the residency policy {file}: {exc}") from None
    countries: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    for region, spec in (raw.get("regions") or {}).items():
        if region not in REGIONS:
            raise ConfigError(f"{file}: unknown region {region!r}; regions: {', '.join(REGIONS)}")
        descriptions[region] = str(spec.get("description", ""))
        for code in str(spec.get("countries", "")).split():
            if code in countries:
                raise ConfigError(f"{file}: {code} is in both {countries[code]} and {region}")
            countries[code] = region
    missing = [c for c in COUNTRIES if c not in countries]
    if missing:
        raise ConfigError(f"{file}: countries without a home region: {' '.join(missing)}")
    unattributed = raw.get("unattributed")
    if unattributed not in descriptions:
        raise ConfigError(f"{file}: 'unattributed' must name a region, not {unattributed!r}")
    return ResidencyPolicy(countries, descriptions, unattributed)


def region_root(settings: Settings, region: str) -> str:
    """The root URI of ``region`` (its ``landing/`` and ``lake/`` are under it)."""
    if region not in REGIONS:
        raise InvalidArgument(f"unknown region {region!r}; regions: {', '.join(REGIONS)}")
    template = settings.region_root_uri
    if "{region}" not in template:
        # Without it every region would share one root, which is no residency at all.
        raise ConfigError(f"GBANK_REGION_ROOT_URI must contain {{region}}: {template!r}")
    return template.replace("{region}", region).rstrip("/")


def region_settings(settings: Settings, region: str) -> Settings:
    """``settings`` pointed at ``region``'s own lake and landing zone (same code, other roots)."""
    root = region_root(settings, region)
    return settings.model_copy(
        update={"region": region, "lake_uri": f"{root}/lake", "landing_uri": f"{root}/landing"}
    )


# -- one date through every region -------------------------------------------------------------


def run_regions_day(
    business_date: dt.date,
    settings: Settings | None = None,
    *,
    regions: tuple[str, ...] = REGIONS,
    use_ray: bool = True,
) -> dict[str, LakeDayReport]:
    """Route ``business_date``, then run the lake ETL in each region against its own root.

    The Kafka landing is not part of it: topics are not split by region (see docs/residency.md).
    """
    from ray_platform.lake.pipeline import run_lake_day
    from ray_platform.ops.routing import route_landing_date

    s = settings or get_settings()
    route_landing_date(business_date, s)
    return {
        r: run_lake_day(business_date, region_settings(s, r), kafka_topics=(), use_ray=use_ray)
        for r in regions
    }


def submit_regions_day(
    business_date: dt.date,
    settings: Settings | None = None,
    *,
    regions: tuple[str, ...] = REGIONS,
    timeout_s: float = 3600,
) -> dict[str, JobRun]:
    """Route ``business_date``, then submit the existing ``lake_etl`` job once per region.

    Each job gets the region's settings in its runtime environment, so it is the same job with
    another lake; raises :class:`ray_platform.services.jobs.JobFailed` if one fails.
    """
    from ray_platform.ops.routing import route_landing_date
    from ray_platform.services.jobs import submit_job

    s = settings or get_settings()
    route_landing_date(business_date, s)
    day = business_date.isoformat()
    return {
        r: submit_job(
            "ray_platform.jobs.lake_etl",
            "--date",
            day,
            "--no-kafka",
            settings=region_settings(s, r),
            timeout_s=timeout_s,
        )
        for r in regions
    }
