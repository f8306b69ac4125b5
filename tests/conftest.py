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
