"""PostgreSQL access: one way to get a connection everywhere (CLI, library, Dagster resource, Dagster storage)."""

from rxt5_assets.db.connection import Database, DatabaseError, resolve_database_url, rxt5_home
from rxt5_assets.db.migrations import SCHEMA_VERSION, migrate

__all__ = ["Database", "DatabaseError", "resolve_database_url", "rxt5_home", "migrate", "SCHEMA_VERSION"]
