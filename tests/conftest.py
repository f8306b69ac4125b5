"""Session-wide test setup.

Tests run against their own runtime folder (``.gbank/test`` in the checkout), never the user's
demo lake, and each real service is started once per session by a fixture in tests/fixtures.
"""

from __future__ import annotations

import os
from pathlib import Path

# Before any settings are read: the whole session shares one test home.
REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("GBANK_HOME", str(REPO / ".gbank" / "test"))
os.environ.pop("GBANK_CONFIG", None)

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _settings_from_this_tests_environment():
    """Each test reads settings afresh: ``get_settings`` is cached per process, and a test that
    sets ``GBANK_*`` with monkeypatch must not see a home an earlier test cached."""
    from ray_platform.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


pytest_plugins = [
    "tests.fixtures.browser",
    "tests.fixtures.kafka",
    "tests.fixtures.ray",
    "tests.fixtures.redis",
    "tests.fixtures.registry",
    "tests.fixtures.s3",
    "tests.fixtures.postgres",
    "tests.fixtures.connect",
]
