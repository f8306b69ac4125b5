"""Schemathesis over the query API's own /openapi.json, in process: no input gives a 500.

Every operation is called with generated paths, queries and bodies (valid and invalid) as an
authenticated data engineer over the small API lake; the only check is that the server never
fails (``not_a_server_error``): every bad input must be a 4xx JSON error.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from ray_platform.api import create_app
from ray_platform.governance import auth
from ray_platform.settings import load_settings
from tests.unit import api_lake
from tests.unit.api_lake import StubFeed

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def token() -> str:
    s = api_lake.build()
    return auth.issue_token("fuzzer", kind="service", role="data_engineer", settings=s)


@pytest.fixture(scope="module")
def api_schema() -> schemathesis.BaseSchema:
    lake = api_lake.build()
    # A limit high enough for the run itself; the limit has its own test.
    s = load_settings(home=lake.home, api_rate_limit_per_minute=1_000_000, api_query_timeout_s=5)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(s, feed=StubFeed(s)))


def test_no_input_makes_the_api_fail(api_schema: schemathesis.BaseSchema, token: str) -> None:
    # The Python API, not the pytest plugin (the plugin breaks on this pytest version).
    operations = [op.ok() for op in api_schema.get_all_operations()]
    assert len(operations) >= 8
    headers = {"Authorization": f"Bearer {token}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        run()
