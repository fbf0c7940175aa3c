"""t5_training_sessions and t5_training_examples: what a data preparation or a training run records."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import psycopg
from psycopg.types.json import Jsonb

EXAMPLE_COLUMNS = ("training_session_id", "code_chunk_id", "language", "task", "input", "target", "quality_score",
                   "quality_breakdown", "split", "repo", "file_path")


def create_session(conn: psycopg.Connection, name: str, languages: list[str], config: dict[str, Any],
                   status: str = "preparing", dagster_run_id: str | None = None,
                   max_code_chunk_id: int | None = None) -> str:
    return str(conn.execute(
        """insert into t5_training_sessions (name, status, languages, config, dagster_run_id, max_code_chunk_id)
           values (%s, %s, %s, %s, %s, %s) returning id""",
        (name, status, languages, Jsonb(config), dagster_run_id, max_code_chunk_id),
    ).fetchone()[0])


def update_session(conn: psycopg.Connection, session_id: str, *, status: str | None = None,
                   stats: dict[str, Any] | None = None, example_count: int | None = None,
                   error: str | None = None) -> None:
    """Set what is given; stats are merged into the stored object. completed_at is stamped on completion."""
    conn.execute(
        """update t5_training_sessions set
               status = coalesce(%s, status),
               stats = stats || %s,
               example_count = coalesce(%s, example_count),
               error = coalesce(%s, error),
               updated_at = now(),
               completed_at = case when %s in ('completed', 'prepared') then now() else completed_at end
           where id = %s""",
        (status, Jsonb(stats or {}), example_count, error, status, session_id),
    )


def get_session(conn: psycopg.Connection, session_id: str) -> dict | None:
    cursor = conn.execute("select * from t5_training_sessions where id = %s", (session_id,))
    row = cursor.fetchone()
    return dict(zip([c.name for c in cursor.description], row)) if row else None


def store_examples(conn: psycopg.Connection, session_id: str, examples: pl.DataFrame) -> int:
    """COPY every example of a session into t5_training_examples."""
    with conn.cursor().copy(f"copy t5_training_examples ({', '.join(EXAMPLE_COLUMNS)}) from stdin") as copy:
        for row in examples.iter_rows(named=True):
            breakdown = row.get("quality_breakdown")
            copy.write_row((
                session_id, row.get("code_chunk_id"), row["language"], row["task"], row["input"], row["target"],
                row["quality_score"], breakdown if breakdown else json.dumps({}), row["split"], row.get("repo"),
                row.get("file_path"),
            ))
    return examples.height
