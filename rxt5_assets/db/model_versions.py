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
    """A new, inactive version; returns its id. Idempotent per training session: when the session already has a
    version, that version's id is returned and nothing is written (serialised by a transaction-level advisory lock on
    the session, and by a unique index where migration 6 could create it)."""
    with conn.transaction():
        if training_session_id is not None:
            conn.execute("select pg_advisory_xact_lock(%s::int4, hashtext(%s))",
                         (_REGISTER_LOCK_CLASS, training_session_id))
            existing = conn.execute(
                "select id from t5_model_versions where training_session_id = %s order by inserted_at limit 1",
                (training_session_id,)).fetchone()
            if existing is not None:
                return str(existing[0])
        return str(conn.execute(
            """insert into t5_model_versions
                   (version, base_model, training_session_id, adapter_path, hyperparameters, performance_metrics)
               values (%s, %s, %s, %s, %s, %s) returning id""",
            (version, base_model, training_session_id, adapter_path, Jsonb(hyperparameters),
             Jsonb(performance_metrics or {})),
        ).fetchone()[0])


_REGISTER_LOCK_CLASS = 0x7278_3576  # pg_advisory_xact_lock(class, hashtext(session)) around a registration


def version_for_adapter(conn: psycopg.Connection, adapter_path: str) -> dict[str, Any] | None:
    """The registered version whose adapter folder is `adapter_path` (never written again once registered)."""
    rows = _rows(conn.execute(
        f"select {_VERSION_COLUMNS} from t5_model_versions where adapter_path = %s order by inserted_at limit 1",
        (adapter_path,)))
    return rows[0] if rows else None


# ---------------------------------------------------------------------------------------------------------------------
# reading versions, the base's own row, statuses (used by evaluation and promotion)

BASE_KIND = "base"  # hyperparameters->>'kind' of a bare base's row; adapters (and full fine-tunes) have none


def _rows(cursor) -> list[dict[str, Any]]:
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


_VERSION_COLUMNS = """id::text as id, version, base_model, training_session_id::text as training_session_id,
    adapter_path, status, hyperparameters, performance_metrics, evaluation_results, is_active, inserted_at,
    activated_at"""


def get_version(conn: psycopg.Connection, id_or_version: str) -> dict[str, Any] | None:
    """The row of a version given its id (uuid) or its version name (e.g. v20261201-…, base-…)."""
    rows = _rows(conn.execute(
        f"select {_VERSION_COLUMNS} from t5_model_versions where id::text = %s or version = %s",
        (id_or_version, id_or_version)))
    return rows[0] if rows else None


def active_version(conn: psycopg.Connection) -> dict[str, Any] | None:
    rows = _rows(conn.execute(f"select {_VERSION_COLUMNS} from t5_model_versions where is_active"))
    return rows[0] if rows else None


def list_versions(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every version, oldest first."""
    return _rows(conn.execute(f"select {_VERSION_COLUMNS} from t5_model_versions order by inserted_at, version"))


def is_base(version: dict[str, Any]) -> bool:
    return (version.get("hyperparameters") or {}).get("kind") == BASE_KIND


def base_version_name(fingerprint: str) -> str:
    return f"base-{fingerprint[:12]}"


def ensure_base_version(conn: psycopg.Connection, *, base_model: str, base_model_path: str, fingerprint: str) -> str:
    """The id of the bare base's own row, keyed by its weights' fingerprint (created on first use, race-free).

    The base gets a row like any version so that `switch --base`, rollback and evaluation results treat it uniformly:
    version `base-<first 12 hex digits of the fingerprint>`, no adapter_path, hyperparameters.kind = 'base'."""
    name = base_version_name(fingerprint)
    conn.execute(
        """insert into t5_model_versions (version, base_model, adapter_path, hyperparameters)
           values (%s, %s, null, %s) on conflict (version) do nothing""",
        (name, base_model, Jsonb({"kind": BASE_KIND, "base_model_path": base_model_path,
                                  "base_fingerprint": fingerprint})))
    return str(conn.execute("select id from t5_model_versions where version = %s", (name,)).fetchone()[0])


def newest_candidate(conn: psycopg.Connection, dataset_session_id: str | None = None) -> dict[str, Any] | None:
    """The version to evaluate next: the newest adapter trained on the dataset `dataset_session_id` (its training
    session is the dataset's own session, or one whose config names it as dataset_session_id — what lora_adapter
    records); without one (or with no dataset given), the newest adapter that is not active. Base rows never are."""
    if dataset_session_id is not None:
        rows = _rows(conn.execute(
            f"""select {_VERSION_COLUMNS} from t5_model_versions v
                where coalesce(hyperparameters->>'kind', '') <> 'base' and training_session_id in (
                    select id from t5_training_sessions
                    where id = %s or config->>'dataset_session_id' = %s::text)
                order by inserted_at desc, version desc limit 1""",
            (dataset_session_id, dataset_session_id)))
        if rows:
            return rows[0]
    rows = _rows(conn.execute(
        f"""select {_VERSION_COLUMNS} from t5_model_versions
            where coalesce(hyperparameters->>'kind', '') <> 'base' and not is_active
            order by inserted_at desc, version desc limit 1"""))
    return rows[0] if rows else None
