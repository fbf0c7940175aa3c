"""t5_model_versions: register trained versions; the single active one is enforced by a unique partial index."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def new_version_name(prefix: str = "v") -> str:
    return f"{prefix}{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S-%f')}"


def register_version(conn: psycopg.Connection, *, version: str, base_model: str, training_session_id: str | None,
                     adapter_path: str, hyperparameters: dict[str, Any],
                     performance_metrics: dict[str, Any] | None = None) -> str:
    """A new, inactive version; returns its id."""
    return str(conn.execute(
        """insert into t5_model_versions
               (version, base_model, training_session_id, adapter_path, hyperparameters, performance_metrics)
           values (%s, %s, %s, %s, %s, %s) returning id""",
        (version, base_model, training_session_id, adapter_path, Jsonb(hyperparameters),
         Jsonb(performance_metrics or {})),
    ).fetchone()[0])
