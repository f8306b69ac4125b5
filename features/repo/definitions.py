"""Feast definitions for the ``feast`` CLI: the objects built from the current settings."""

from __future__ import annotations

from features.views import build_definitions

globals().update(build_definitions())
