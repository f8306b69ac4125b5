"""The query API and dashboard: governed SQL, datasets and reports over HTTP, with charts.

Everything a caller reads goes through :mod:`ray_platform.governance` (policy, masking,
audit) as the principal of their token; see ``docs/api.md``.
"""

from __future__ import annotations

from ray_platform.api.app import create_app as create_app
from ray_platform.api.server import ApiService as ApiService
from ray_platform.api.server import BackgroundServer as BackgroundServer
from ray_platform.api.server import serve as serve
from ray_platform.api.server import start_background as start_background
from ray_platform.api.server import start_detached as start_detached

__all__ = [
    "ApiService",
    "BackgroundServer",
    "create_app",
    "serve",
    "start_background",
    "start_detached",
]
