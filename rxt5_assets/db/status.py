"""What `rxt5 db status` reports: the server, the schema version, and row counts."""

from __future__ import annotations

from rxt5_assets.db.connection import Database, redact
from rxt5_assets.db.locks import mark_stale_sessions
from rxt5_assets.db.migrations import SCHEMA_VERSION, applied_versions

TABLES = (
    "code_chunks",
    "t5_training_sessions",
    "t5_training_examples",  # a view (migration 7): a session's examples, one row per session and example
    "t5_example_contents",
    "t5_session_examples",
    "t5_model_versions",
    "t5_training_progress",
    "t5_evaluation_results",
    "t5_evaluations",
    "t5_deployments",
    "chunk_analyses",
    "code_chunk_embeddings",
)


def database_status(database: Database) -> dict:
    with database.connect() as conn:
        server_version = conn.execute("show server_version").fetchone()[0]
        # a `training` session whose trainer is gone (its advisory lock is free) is marked interrupted here
        stale = mark_stale_sessions(conn)
        applied = applied_versions(conn)
        counts: dict[str, int | None] = {}
        for table in TABLES:
            present = conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]
            counts[table] = conn.execute(f"select count(*) from {table}").fetchone()[0] if present else None
        by_language = []
        if counts["code_chunks"] is not None:
            by_language = conn.execute(
                "select coalesce(language, '(null)'), count(*) from code_chunks group by 1 order by 1"
            ).fetchall()
    return {
        "server": "embedded (pgserver)" if database.is_embedded else "external (RXT5_DATABASE_URL)",
        "url": redact(database.url),
        "postgres_version": server_version,
        "schema_version": max(applied) if applied else 0,
        "schema_latest": SCHEMA_VERSION,
        "row_counts": counts,
        "code_chunks_by_language": dict(by_language),
        "stale_sessions_marked_interrupted": stale,
    }


def format_status(status: dict) -> str:
    lines = [
        f"server:   {status['server']}, PostgreSQL {status['postgres_version']}",
        f"url:      {status['url']}",
        f"schema:   version {status['schema_version']} of {status['schema_latest']}"
        + ("" if status["schema_version"] == status["schema_latest"] else "  (run `rxt5 db migrate`)"),
        "rows:",
    ]
    for table, count in status["row_counts"].items():
        lines.append(f"  {table:<24} {'(missing)' if count is None else count}")
    for language, count in status["code_chunks_by_language"].items():
        lines.append(f"    code_chunks[{language}] {count}")
    stale = status.get("stale_sessions_marked_interrupted") or []
    if stale:
        lines.append(f"marked interrupted (training, but the trainer is gone): {', '.join(stale)} — resume with "
                     "`rxt5 train --resume --output-dir <its folder>` or re-materialize lora_adapter")
    return "\n".join(lines)
