"""The warehouse: a star schema in ``gold/warehouse/``, its daily load and self-service SQL.

Public surface: :func:`load_warehouse`, :func:`query`, :func:`saved_queries`, the table
specs (:data:`TABLES`) and the SQL errors; the modules behind them are internal.
"""

from __future__ import annotations

from ray_platform.warehouse.load import WarehouseReport as WarehouseReport
from ray_platform.warehouse.load import load_warehouse as load_warehouse
from ray_platform.warehouse.model import TABLES as TABLES
from ray_platform.warehouse.model import warehouse_table as warehouse_table
from ray_platform.warehouse.sql import QueryRefused as QueryRefused
from ray_platform.warehouse.sql import SqlError as SqlError
from ray_platform.warehouse.sql import query as query
from ray_platform.warehouse.sql import saved_queries as saved_queries

__all__ = [
    "TABLES",
    "QueryRefused",
    "SqlError",
    "WarehouseReport",
    "load_warehouse",
    "query",
    "saved_queries",
    "warehouse_table",
]
