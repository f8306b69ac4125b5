from __future__ import annotations

from pathlib import Path

import pytest

from ray_platform.settings import settings_table_markdown

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_readme_settings_table_matches_the_settings_model():
    assert settings_table_markdown() in (REPO / "README.md").read_text()


def test_readme_quickstart_has_the_two_commands():
    text = (REPO / "README.md").read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quickstart and "make test" in quickstart


def test_ci_runs_only_make_test():
    lines = [
        ln.strip()
        for ln in (REPO / ".ci" / "run").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[-1] == "make test"
