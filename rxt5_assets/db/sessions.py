"""t5_training_sessions and t5_training_examples: what a data preparation or a training run records."""

from __future__ import annotations

from typing import Any

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


# A session's state only moves forward: status → the statuses it may go to. A completed session is never reopened
# (its examples and its model version describe each other); a data session past `preparing` gets no more examples
# (the data stage derives a new session instead, see derive_session).
TRANSITIONS: dict[str, frozenset[str]] = {
    "preparing": frozenset({"preparing", "prepared", "training", "failed"}),
    "prepared": frozenset({"prepared", "training", "failed"}),
    "training": frozenset({"training", "interrupted", "failed", "completed"}),
    "interrupted": frozenset({"interrupted", "training", "failed"}),
    "failed": frozenset({"failed", "training"}),  # a failed training resumed from its checkpoints
    "completed": frozenset({"completed"}),
}


class SessionStateError(RuntimeError):
    """A status change that would move a session backwards."""


def update_session(conn: psycopg.Connection, session_id: str, *, status: str | None = None,
                   stats: dict[str, Any] | None = None, example_count: int | None = None,
                   error: str | None = None) -> None:
    """Set what is given; stats are merged into the stored object. completed_at is stamped when the session first
    reaches prepared or completed. A status change that TRANSITIONS does not allow raises SessionStateError and
    changes nothing."""
    sources = [source for source, targets in TRANSITIONS.items() if status in targets] if status else list(TRANSITIONS)
    cursor = conn.execute(
        """update t5_training_sessions set
               status = coalesce(%s, status),
               stats = stats || %s,
               example_count = coalesce(%s, example_count),
               error = coalesce(%s, error),
               updated_at = now(),
               completed_at = case when %s in ('completed', 'prepared') and status is distinct from %s then now()
                                   else completed_at end
           where id = %s and status = any(%s)""",
        (status, Jsonb(stats or {}), example_count, error, status, status, session_id, sources),
    )
    if cursor.rowcount == 0:
        row = conn.execute("select status from t5_training_sessions where id = %s", (session_id,)).fetchone()
        if row is not None:
            raise SessionStateError(f"training session {session_id} is {row[0]}: it cannot become {status}")


def lock_session(conn: psycopg.Connection, session_id: str) -> str | None:
    """Lock the session's row until the transaction ends; its status (None when there is no such session)."""
    row = conn.execute("select status from t5_training_sessions where id = %s for update", (session_id,)).fetchone()
    return row[0] if row else None


def derive_session(conn: psycopg.Connection, session_id: str, *, dagster_run_id: str | None = None,
                   exclude_tasks: tuple[str, ...] = ()) -> str:
    """A new `preparing` session with the config and the examples of `session_id` (minus `exclude_tasks`): what the
    data stage records into when the session it would extend has moved on (prepared, trained) — never reopened."""
    new_id = str(conn.execute(
        """insert into t5_training_sessions (name, status, languages, config, stats, dagster_run_id, max_code_chunk_id)
           select name, 'preparing', languages, config || jsonb_build_object('derived_from', id::text),
                  stats - 'dataset' - 'training' - 'pairs', coalesce(%s, dagster_run_id), max_code_chunk_id
           from t5_training_sessions where id = %s returning id""",
        (dagster_run_id, session_id),
    ).fetchone()[0])
    columns = ", ".join(EXAMPLE_COLUMNS[1:])
    conn.execute(
        f"""insert into t5_training_examples (training_session_id, {columns})
            select %s, {columns} from t5_training_examples
            where training_session_id = %s and task <> all(%s) order by id""",
        (new_id, session_id, list(exclude_tasks)),
    )
    return new_id


def get_session(conn: psycopg.Connection, session_id: str) -> dict | None:
    cursor = conn.execute("select * from t5_training_sessions where id = %s", (session_id,))
    row = cursor.fetchone()
    return dict(zip([c.name for c in cursor.description], row)) if row else None


STORE_SLICE_ROWS = 20_000


def store_examples(conn: psycopg.Connection, session_id: str, examples: pl.DataFrame) -> int:
    """COPY every example of a session into t5_training_examples: CSV written by polars, a slice of rows at a time
    (no Python object per row or value; unquoted empty is NULL, a quoted "" an empty string)."""
    import polars as pl

    frame = examples.select(
        pl.lit(str(session_id)).alias("training_session_id"),
        *[(pl.col(name) if name in examples.columns else pl.lit(None, dtype=pl.Int64 if name == "code_chunk_id"
                                                                   else pl.String)).alias(name)
          for name in ("code_chunk_id", "language", "task", "input", "target", "quality_score")],
        pl.when(pl.col("quality_breakdown").is_null() | (pl.col("quality_breakdown") == ""))
        .then(pl.lit("{}")).otherwise(pl.col("quality_breakdown")).alias("quality_breakdown")
        if "quality_breakdown" in examples.columns else pl.lit("{}").alias("quality_breakdown"),
        *[(pl.col(name) if name in examples.columns else pl.lit(None, dtype=pl.String)).alias(name)
          for name in ("split", "repo", "file_path")],
    )
    with conn.cursor().copy(f"copy t5_training_examples ({', '.join(EXAMPLE_COLUMNS)}) from stdin (format csv)") as copy:
        for start in range(0, frame.height, STORE_SLICE_ROWS):
            copy.write(frame.slice(start, STORE_SLICE_ROWS).write_csv(None, include_header=False).encode("utf-8"))
    return examples.height
