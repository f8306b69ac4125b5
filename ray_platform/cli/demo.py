"""``gbank demo``: run the main job on the embedded defaults."""

from __future__ import annotations


def demo() -> None:
    """Run every pipeline that exists so far and print where to look."""
