"""The seed's selection of code chunks, per language.

The seed selects `WHERE language = '<lang>' AND LENGTH(content) >= 50 AND file_path NOT LIKE '%test%'`; the length and the
path pattern are configurable, the defaults are the seed's.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import psycopg

CHUNK_SCHEMA = {
    "id": pl.Int64,
    "content": pl.String,
    "language": pl.String,
    "file_path": pl.String,
    "repo": pl.String,
    "item_kind": pl.String,
    "item_name": pl.String,
}


@dataclass(frozen=True)
class ChunkSelection:
    languages: tuple[str, ...] = ("rust", "elixir")
    min_length: int = 50
    exclude_path_pattern: str = "%test%"

    def where(self) -> tuple[str, list]:
        clause = "language = any(%s) and length(content) >= %s and file_path not like %s"
        return clause, [list(self.languages), self.min_length, self.exclude_path_pattern]


def selection_counts(conn: psycopg.Connection, selection: ChunkSelection) -> pl.DataFrame:
    """Rows the selection takes, per language and repo."""
    where, params = selection.where()
    rows = conn.execute(
        f"select language, coalesce(repo, '(none)'), count(*), max(id) from code_chunks where {where} "
        "group by 1, 2 order by 1, 2",
        params,
    ).fetchall()
    return pl.DataFrame(rows, schema={"language": pl.String, "repo": pl.String, "chunks": pl.Int64, "max_id": pl.Int64},
                        orient="row")


def table_summary(conn: psycopg.Connection) -> dict:
    total, max_id = conn.execute("select count(*), coalesce(max(id), 0) from code_chunks").fetchone()
    return {"total_rows": total, "max_id": max_id}


def load_all_chunks(conn: psycopg.Connection, max_id: int | None = None) -> pl.DataFrame:
    """Every row (bad ones included) so the preprocessing step can count what it drops and why."""
    clauses, params = [], []
    if max_id is not None:
        clauses.append("id <= %s")
        params.append(max_id)
    where = f"where {' and '.join(clauses)}" if clauses else ""
    cursor = conn.execute(f"select {', '.join(CHUNK_SCHEMA)} from code_chunks {where} order by id", params)
    return pl.DataFrame(cursor.fetchall(), schema=CHUNK_SCHEMA, orient="row")
