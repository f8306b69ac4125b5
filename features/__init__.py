"""Fraud features: computation from silver, the Feast repository and the online store seam.

Public surface (everything else is internal):
"""

from __future__ import annotations

from features.engineering import FEATURE_TABLES as FEATURE_TABLES
from features.engineering import compute_features as compute_features
from features.engineering import run_features as run_features
from features.online import DEFAULTS as DEFAULTS
from features.online import OnlineStore as OnlineStore
from features.online import RedisOnlineStore as RedisOnlineStore
from features.online import SqliteOnlineStore as SqliteOnlineStore
from features.online import online_store_for as online_store_for
from features.store import apply as apply
from features.store import historical_features as historical_features
from features.views import MODEL_FEATURES as MODEL_FEATURES
from features.views import build_definitions as build_definitions
