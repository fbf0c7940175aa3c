"""t5_training_sessions and a session's examples (t5_example_contents, stored once, and t5_session_examples, a
session's membership; t5_training_examples is the view over both): what a data preparation or a training run records."""

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
    # membership only: the new session links the same content rows (migration 7), in the same order
    conn.execute(
        """insert into t5_session_examples (training_session_id, example_id)
           select %s, l.example_id from t5_session_examples l join t5_example_contents c on c.id = l.example_id
           where l.training_session_id = %s and c.task <> all(%s) order by l.id""",
        (new_id, session_id, list(exclude_tasks)),
    )
    return new_id


def get_session(conn: psycopg.Connection, session_id: str) -> dict | None:
    cursor = conn.execute("select * from t5_training_sessions where id = %s", (session_id,))
    row = cursor.fetchone()
    return dict(zip([c.name for c in cursor.description], row)) if row else None


STORE_SLICE_ROWS = 20_000
CONTENT_COLUMNS = EXAMPLE_COLUMNS[1:]  # what t5_example_contents holds of an example, besides its digest
_STAGING_SQL = """create temporary table if not exists rxt5_example_staging (
                      digest bytea, code_chunk_id bigint, language text, task text, input text, target text,
                      quality_score real, quality_breakdown jsonb, split text, repo text, file_path text
                  ) on commit delete rows"""


def example_contents(examples: pl.DataFrame) -> pl.DataFrame:
    """The stored columns of `examples` (absent ones null, an empty breakdown `{}`), as store_examples writes them."""
    import polars as pl

    return examples.select(
        *[(pl.col(name) if name in examples.columns else pl.lit(None, dtype=pl.Int64 if name == "code_chunk_id"
                                                                   else pl.String)).alias(name)
          for name in ("code_chunk_id", "language", "task", "input", "target", "quality_score")],
        pl.when(pl.col("quality_breakdown").is_null() | (pl.col("quality_breakdown") == ""))
        .then(pl.lit("{}")).otherwise(pl.col("quality_breakdown")).alias("quality_breakdown")
        if "quality_breakdown" in examples.columns else pl.lit("{}").alias("quality_breakdown"),
        *[(pl.col(name) if name in examples.columns else pl.lit(None, dtype=pl.String)).alias(name)
          for name in ("split", "repo", "file_path")],
    )


def example_digests(contents: pl.DataFrame) -> list[bytes]:
    """blake2b (16 bytes) of every stored column of each row, length-prefixed (no two different rows share an
    encoding): two examples with the same digest are the same example. The score is the value stored (a real)."""
    import hashlib

    import polars as pl

    parts = []
    for name in CONTENT_COLUMNS:
        column = pl.col(name)
        if name == "quality_score":  # stored as real: two float64 scores equal as reals are the same example
            column = column.cast(pl.Float32)
        text = column.cast(pl.String)
        parts.append(pl.when(text.is_null()).then(pl.lit("~"))
                     .otherwise(pl.format("{}:{}", text.str.len_bytes(), text)))
    encoded = contents.select(pl.concat_str(parts).alias("encoded"))["encoded"]
    blake2b = hashlib.blake2b
    return [blake2b(value.encode("utf-8"), digest_size=16).digest() for value in encoded.to_list()]


def store_examples(conn: psycopg.Connection, session_id: str, examples: pl.DataFrame) -> int:
    """Add `examples` to a session (migration 7): a digest per example (example_digests); the contents PostgreSQL
    lacks go by COPY (CSV written by polars) into a temporary table and from there into t5_example_contents (on
    conflict do nothing: another session may store the same example at the same time); then one narrow
    t5_session_examples row per example, in frame order. A slice of rows at a time; a retrain whose examples are
    mostly the previous session's sends only their digests."""
    import polars as pl

    contents = example_contents(examples)
    conn.execute(_STAGING_SQL)
    for start in range(0, contents.height, STORE_SLICE_ROWS):
        frame = contents.slice(start, STORE_SLICE_ROWS)
        digests = example_digests(frame)
        known = {bytes(row[0]) for row in conn.execute(
            "select digest from t5_example_contents where digest = any(%s)", (list(set(digests)),))}
        new = [index for index, digest in enumerate(digests) if digest not in known]
        if new:
            fresh = frame.with_columns(pl.Series("digest", ["\\x" + digest.hex() for digest in digests]))[new]
            fresh = fresh.unique("digest", keep="first", maintain_order=True)
            conn.execute("truncate rxt5_example_staging")
            with conn.cursor().copy(f"copy rxt5_example_staging (digest, {', '.join(CONTENT_COLUMNS)}) from stdin "
                                    "(format csv)") as copy:
                copy.write(fresh.select("digest", *CONTENT_COLUMNS).write_csv(None, include_header=False)
                           .encode("utf-8"))
            conn.execute(f"""insert into t5_example_contents (digest, {', '.join(CONTENT_COLUMNS)})
                             select digest, {', '.join(CONTENT_COLUMNS)} from rxt5_example_staging
                             on conflict (digest) do nothing""")
        conn.execute(
            """insert into t5_session_examples (training_session_id, example_id)
               select %s, c.id from unnest(%s::bytea[]) with ordinality as d (digest, position)
               join t5_example_contents c on c.digest = d.digest order by d.position""",
            (session_id, digests))
    return examples.height
