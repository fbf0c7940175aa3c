"""t5_training_sessions and a session's examples (t5_example_contents, stored once, and t5_session_examples, a
session's membership; t5_training_examples is the view over both): what a data preparation or a training run records."""

from __future__ import annotations

import uuid
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
                   exclude_tasks: tuple[str, ...] = (), drop_stats: tuple[str, ...] = ()) -> str:
    """A new `preparing` session with the config and the examples of `session_id` (minus `exclude_tasks`): what the
    data stage records into when the session it would extend has moved on (prepared, trained) — never reopened. The
    stats of the dataset, the training and `drop_stats` (those of the stages whose examples were excluded) go."""
    new_id = str(conn.execute(
        """insert into t5_training_sessions (name, status, languages, config, stats, dagster_run_id, max_code_chunk_id)
           select name, 'preparing', languages, config || jsonb_build_object('derived_from', id::text),
                  stats - 'dataset' - 'training' - %s::text[], coalesce(%s, dagster_run_id), max_code_chunk_id
           from t5_training_sessions where id = %s returning id""",
        (list(drop_stats), dagster_run_id, session_id),
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
PROBE_ROWS = 50_000  # store_examples of at most this many rows without an index: digests looked up by index probes
CONTENT_COLUMNS = EXAMPLE_COLUMNS[1:]  # what t5_example_contents holds of an example, besides its digest
_STAGING_SQL = """create temporary table if not exists rxt5_example_staging (
                      id bigint, digest bytea, code_chunk_id bigint, language text, task text, input text, target text,
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


def example_digests(contents: pl.DataFrame) -> list[str]:
    """blake2b (16 bytes, as hex) of every stored column of each row, length-prefixed (no two different rows share an
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
    encoded = contents.select(pl.concat_str(parts).cast(pl.Binary).alias("encoded"))["encoded"]
    blake2b = hashlib.blake2b
    return [blake2b(value, digest_size=16).hexdigest() for value in encoded.to_list()]


class ContentIndex:
    """digest → t5_example_contents id of every stored example, read once per store (COPY … csv into polars, then a
    dict: 1 M contents ≈ 160 MB) and grown with what this store adds. A slice's lookup is 20,000 dict gets, not 20,000
    index probes (10 µs each: 1.4 s for a 200k-chunk table's 147k examples). Contents another session stores
    meanwhile are not in it: inserting them again meets the unique digest (see store_examples)."""

    def __init__(self, conn: psycopg.Connection):
        import io

        import polars as pl

        buffer = io.BytesIO()
        with conn.cursor().copy("copy (select encode(digest, 'hex'), id from t5_example_contents) to stdout "
                                "(format csv)") as copy:
            for block in copy:
                buffer.write(block)
        self.ids: dict[str, int] = {}
        if buffer.tell():
            frame = pl.read_csv(buffer.getvalue(), has_header=False, new_columns=["digest", "id"],
                                schema={"digest": pl.String, "id": pl.Int64})
            self.ids = dict(zip(frame["digest"].to_list(), frame["id"].to_list()))


def _probe(conn: psycopg.Connection, digests: list[str]) -> dict[str, int]:
    """digest (hex) → id of those stored, by index probes (after a conflict: rows another session just stored)."""
    rows = conn.execute("select encode(digest, 'hex'), id from t5_example_contents where digest = any(%s)",
                        ([bytes.fromhex(digest) for digest in digests],), binary=True).fetchall()
    return dict(rows)


def _insert_contents(conn: psycopg.Connection, fresh: pl.DataFrame) -> dict[str, int]:
    """Store contents not yet stored (digest hex + CONTENT_COLUMNS); digest → id of each."""
    import polars as pl

    ids = [row[0] for row in conn.execute(
        "select nextval(pg_get_serial_sequence('t5_example_contents', 'id')) from generate_series(1, %s)",
        (fresh.height,))]
    rows = fresh.select(pl.Series("id", ids, dtype=pl.Int64), ("\\x" + pl.col("digest")).alias("digest"),
                        *CONTENT_COLUMNS).write_csv(None, include_header=False).encode("utf-8")
    columns = f"id, digest, {', '.join(CONTENT_COLUMNS)}"
    try:
        with conn.transaction():  # a savepoint: a conflict undoes this COPY only
            with conn.cursor().copy(f"copy t5_example_contents ({columns}) from stdin (format csv)") as copy:
                copy.write(rows)
        return dict(zip(fresh["digest"].to_list(), ids))
    except psycopg.errors.UniqueViolation:
        pass
    conn.execute(_STAGING_SQL)
    conn.execute("truncate rxt5_example_staging")
    with conn.cursor().copy(f"copy rxt5_example_staging ({columns}) from stdin (format csv)") as copy:
        copy.write(rows)
    stored = dict((bytes(digest).hex(), id_) for digest, id_ in conn.execute(
        f"""insert into t5_example_contents ({columns}) select {columns} from rxt5_example_staging
            on conflict (digest) do nothing returning digest, id""").fetchall())
    return {**stored, **_probe(conn, [digest for digest in fresh["digest"].to_list() if digest not in stored])}


_LINK_ROW = [("fields", ">i2"), ("session_size", ">i4"), ("session", "V16"), ("id_size", ">i4"), ("id", ">i8")]


def contents_epoch(conn: psycopg.Connection) -> int:
    """How many statements have deleted from t5_example_contents (migration 9). Content ids a run stored under an
    epoch all exist while the epoch is the same: rxt5 itself never deletes contents."""
    return conn.execute("select deletions from rxt5_contents_epoch").fetchone()[0]


def _link_rows(session: bytes, ids: list[int]) -> bytes:
    """t5_session_examples rows (session uuid, example id) in COPY's binary format, built by numpy: header, one
    34-byte tuple per row, trailer."""
    import numpy as np

    rows = np.zeros(len(ids), dtype=np.dtype(_LINK_ROW))
    rows["fields"], rows["session_size"], rows["id_size"] = 2, 16, 8
    rows["session"] = np.frombuffer(session, dtype="V16")[0]
    rows["id"] = np.asarray(ids, dtype=np.int64)  # a None (not stored) raises here, before anything is linked
    return b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes() + b"\xff\xff"


def link_examples(conn: psycopg.Connection, session_id: str, ids) -> None:
    """Add stored contents (t5_example_contents ids, in order) to a session: its membership rows only, by binary
    COPY — a retrain's examples that the previous run stored already (their ids kept with its examples)."""
    session = uuid.UUID(str(session_id)).bytes
    for start in range(0, len(ids), 10 * STORE_SLICE_ROWS):
        with conn.cursor().copy("copy t5_session_examples (training_session_id, example_id) from stdin "
                                "(format binary)") as copy:
            copy.write(_link_rows(session, ids[start:start + 10 * STORE_SLICE_ROWS]))


def store_examples(conn: psycopg.Connection, session_id: str, examples: pl.DataFrame,
                   index: ContentIndex | None = None, link: bool = True) -> list[int]:
    """Add `examples` to a session (migration 7): a digest per example (example_digests); the contents PostgreSQL
    lacks (`index`; read now when not given and the frame is larger than PROBE_ROWS, else probed) get ids from the
    sequence and go by COPY (CSV written by polars) into t5_example_contents; then one narrow t5_session_examples row
    per example, in frame order (binary COPY). A slice of rows at a time; a retrain whose examples are mostly the
    previous session's sends their ids only. Another session storing the same new example at the same time: this COPY
    waits for it (a unique digest), meets the digest and the slice goes again through a temporary table with `on
    conflict do nothing` (two sessions inserting the same new examples in opposite orders: PostgreSQL's deadlock
    detector fails one of them). Returns the content id of every example, in frame order; `link=False` stores the
    contents only (the caller links them, with others, by link_examples)."""
    import polars as pl

    # a few slices (the pairs' examples): index probes cost less than reading every stored digest
    index = index if index is not None else ContentIndex(conn) if examples.height > PROBE_ROWS else None
    session = uuid.UUID(str(session_id)).bytes
    contents = example_contents(examples)
    linked: list[int] = []
    for start in range(0, contents.height, STORE_SLICE_ROWS):
        frame = contents.slice(start, STORE_SLICE_ROWS)
        digests = example_digests(frame)
        known = index.ids if index is not None else _probe(conn, list(set(digests)))
        ids = [known.get(digest) for digest in digests]
        missing = [id_ is None for id_ in ids]
        if any(missing):
            fresh = frame.with_columns(pl.Series("digest", digests, dtype=pl.String)).filter(pl.Series(missing))
            stored = _insert_contents(conn, fresh.unique("digest", keep="first", maintain_order=True))
            known.update(stored)
            ids = [known.get(digest) for digest in digests]
        if link:
            with conn.cursor().copy("copy t5_session_examples (training_session_id, example_id) from stdin "
                                    "(format binary)") as copy:
                copy.write(_link_rows(session, ids))
        linked.extend(ids)
    return linked
