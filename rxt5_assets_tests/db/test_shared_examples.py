"""Sessions share example rows (migration 7): contents stored once, a session's membership a narrow row, and
t5_training_examples still a session's examples for plain SQL."""

from __future__ import annotations

import json

import polars as pl
import psycopg
import pytest

from rxt5_assets.db import Database
from rxt5_assets.db.sessions import (ContentIndex, create_session, derive_session, example_contents, example_digests,
                                     link_examples, store_examples)

VIEW_COLUMNS = ("code_chunk_id", "language", "task", "input", "target", "quality_score", "quality_breakdown",
                "split", "repo", "file_path")


def _examples(chunk_ids: list[int | None]) -> pl.DataFrame:
    rows = []
    for n, chunk_id in enumerate(chunk_ids):
        rows.append({"input": f"implement: fn f{n}() ", "target": f"fn f{n}() {{\n    \"quoted\", {n}\n}}",
                     "language": "rust" if n % 2 else "elixir", "task": "implement" if n % 3 else "document",
                     "quality_score": 0.5 + n / 100, "source_id": f"s{n}", "code_chunk_id": chunk_id,
                     "repo": None if n == 3 else "r", "file_path": f"src/f{n}.rs", "split": "eval" if n == 4 else "train",
                     "quality_breakdown": "" if n == 2 else json.dumps({"docs": 0.5, "n": n})})
    return pl.DataFrame(rows)


def _chunks(conn: psycopg.Connection, count: int) -> list[int]:
    return [conn.execute("insert into code_chunks (content, language, file_path, repo) values (%s, 'rust', %s, 'r') "
                         "returning id", (f"fn f{n}() {{}}", f"src/f{n}.rs")).fetchone()[0] for n in range(count)]


def _stored(conn: psycopg.Connection, session_id: str) -> list[tuple]:
    return conn.execute(f"select {', '.join(VIEW_COLUMNS)} from t5_training_examples where training_session_id = %s "
                        "order by id", (session_id,)).fetchall()


def _expected(examples: pl.DataFrame) -> list[tuple]:
    rows = []
    for row in example_contents(examples).iter_rows(named=True):
        row["quality_breakdown"] = json.loads(row["quality_breakdown"])
        rows.append(tuple(row[name] for name in VIEW_COLUMNS))
    return rows


def _close(stored: list[tuple], expected: list[tuple]) -> None:
    assert len(stored) == len(expected)
    for got, want in zip(stored, expected):
        score = VIEW_COLUMNS.index("quality_score")
        assert got[:score] + got[score + 1:] == want[:score] + want[score + 1:]
        assert got[score] == pytest.approx(want[score], abs=1e-6)  # a real


def test_two_sessions_with_the_same_examples_store_the_contents_once(database: Database):
    with database.connect() as conn:
        examples = _examples(_chunks(conn, 5) + [None])
        first = create_session(conn, "a", ["rust", "elixir"], {})
        second = create_session(conn, "b", ["rust", "elixir"], {})
        store_examples(conn, first, examples)  # small: digests probed
        # read whole (ContentIndex, as the scoring stage does); a repeated example counts twice
        store_examples(conn, second, pl.concat([examples, examples.head(2)]), ContentIndex(conn))
        conn.commit()
        assert conn.execute("select count(*) from t5_example_contents").fetchone()[0] == examples.height
        assert conn.execute("select count(*) from t5_session_examples").fetchone()[0] == 2 * examples.height + 2
        _close(_stored(conn, first), _expected(examples))
        _close(_stored(conn, second), _expected(pl.concat([examples, examples.head(2)])))
        # another split is another example
        store_examples(conn, first, examples.head(1).with_columns(pl.lit("eval").alias("split")))
        assert conn.execute("select count(*) from t5_example_contents").fetchone()[0] == examples.height + 1


def test_digest_covers_every_stored_column():
    examples = example_contents(_examples([1, 2]))
    base = example_digests(examples.head(1))[0]
    for name in VIEW_COLUMNS:
        dtype = examples.schema[name]
        changed = examples.head(1).with_columns(
            (pl.col(name) + 1 if dtype == pl.Int64 else pl.col(name) / 2 if dtype == pl.Float64
             else pl.col(name) + "x").alias(name))
        assert example_digests(changed)[0] != base, name
    # the encoding is length-prefixed: moving text from one column to the next is another example
    shifted = examples.head(1).with_columns(pl.lit("implement: fn f0() fn").alias("input"),
                                            pl.col("target").str.slice(2).alias("target"))
    assert example_digests(shifted)[0] != base


def test_derive_delete_and_plain_sql_on_the_view(database: Database):
    with database.connect() as conn:
        chunk_ids = _chunks(conn, 6)
        examples = _examples(chunk_ids)
        session = create_session(conn, "a", ["rust", "elixir"], {})
        store_examples(conn, session, examples)
        conn.execute("update t5_training_sessions set status = 'prepared' where id = %s", (session,))
        derived = derive_session(conn, session, exclude_tasks=("document",))
        kept = examples.filter(pl.col("task") != "document")
        _close(_stored(conn, derived), _expected(kept))
        assert conn.execute("select count(*) from t5_example_contents").fetchone()[0] == examples.height
        # deleting a chunk nulls its examples' chunk id in every session that holds them
        conn.execute("delete from code_chunks where id = %s", (chunk_ids[1],))
        assert conn.execute("select count(*) from t5_training_examples where code_chunk_id is null").fetchone()[0] == 2
        # plain SQL still writes and deletes a session's examples (INSTEAD OF triggers)
        new_id = conn.execute(
            "insert into t5_training_examples (training_session_id, language, task, input, target, quality_score) "
            "values (%s, 'rust', 'doc', 'i', 't', 0.5) returning id", (derived,)).fetchone()[0]
        row = conn.execute("select task, quality_breakdown, example_id is not null from t5_training_examples "
                           "where id = %s", (new_id,)).fetchone()
        assert row == ("doc", {}, True)
        deleted = conn.execute("delete from t5_training_examples where training_session_id = %s and task = 'doc'",
                               (derived,)).rowcount
        assert deleted == 1
        assert conn.execute("select count(*) from t5_training_examples where training_session_id = %s",
                            (derived,)).fetchone()[0] == kept.height
        _close(_stored(conn, session), _expected(examples.with_columns(
            pl.when(pl.col("code_chunk_id") == chunk_ids[1]).then(None).otherwise(pl.col("code_chunk_id"))
            .alias("code_chunk_id"))))
        # a session's deletion drops its membership, not the contents another session links
        conn.execute("delete from t5_training_sessions where id = %s", (session,))
        assert len(_stored(conn, derived)) == kept.height


def test_migrating_an_old_shape_database_keeps_every_row(empty_database: Database, monkeypatch):
    from rxt5_assets.db import migrations

    full = list(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in full if m[0] <= 6])  # t5_training_examples a table
    assert empty_database.migrate() == [1, 2, 3, 4, 5, 6]
    insert = ("insert into t5_training_examples (training_session_id, code_chunk_id, language, task, input, target, "
              "quality_score, quality_breakdown, split, repo, file_path) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
              "%s, %s)")
    with empty_database.connect() as conn:
        chunk = _chunks(conn, 1)[0]
        sessions = [conn.execute("insert into t5_training_sessions (name) values (%s) returning id",
                                 (name,)).fetchone()[0] for name in ("old", "older")]
        rows = [(chunk, "rust", "implement", "i", "t", 0.75, '{"a": 1}', "train", "r", "f.rs"),
                (None, "elixir", "document", "i2", "t2\n\"x\"", 0.5, "{}", None, None, None),
                (chunk, "rust", "implement", "i", "t", 0.75, '{"a": 1}', "eval", "r", "f.rs")]
        for session in sessions:
            for row in rows:
                conn.execute(insert, (session, *row))
        conn.execute(insert, (sessions[0], *rows[0]))  # the same example twice in one session
        before = conn.execute("select * from t5_training_examples order by id").fetchall()
    monkeypatch.setattr(migrations, "MIGRATIONS", full)
    assert empty_database.migrate() == [v for v, _, _ in full if v > 6]
    assert empty_database.migrate() == []
    with empty_database.connect() as conn:
        after = conn.execute("select id, training_session_id, code_chunk_id, language, task, input, target, "
                             "quality_score, quality_breakdown, split, repo, file_path, inserted_at "
                             "from t5_training_examples order by id").fetchall()
        assert after == before
        assert conn.execute("select count(*) from t5_example_contents").fetchone()[0] == len(rows)
        assert conn.execute("select to_regclass('t5_training_examples_before_v7')").fetchone()[0] is None
        # new rows come after the old ones, and an old example is found again by plain SQL inserts
        new_id = conn.execute(insert + " returning id", (sessions[1], *rows[1])).fetchone()[0]
        assert new_id > max(row[0] for row in before)
        assert conn.execute("select count(*) from t5_example_contents").fetchone()[0] == len(rows)
        conn.execute("delete from code_chunks where id = %s", (chunk,))
        assert conn.execute("select count(*) from t5_training_examples where code_chunk_id is not null"
                            ).fetchone()[0] == 0


def test_contents_another_session_stored_meanwhile_are_linked_not_stored_again(database: Database):
    with database.connect() as conn, database.connect() as other:
        examples = _examples(_chunks(conn, 4))
        conn.commit()
        stale = ContentIndex(conn)  # read before the other session stores the same examples
        first = create_session(other, "a", ["rust"], {})
        store_examples(other, first, examples.head(3))
        other.commit()
        second = create_session(conn, "b", ["rust"], {})
        store_examples(conn, second, examples, stale)  # its COPY meets the unique digests: the slice goes again
        conn.commit()
        assert conn.execute("select count(*) from t5_example_contents").fetchone()[0] == examples.height
        _close(_stored(conn, second), _expected(examples))
        _close(_stored(conn, first), _expected(examples.head(3)))


def test_membership_rows_name_an_existing_session_and_go_with_it(database: Database):
    """Migration 8: the foreign key's rules, checked once per statement: a row naming no session is refused (the
    whole statement), deleting or truncating sessions deletes their rows."""
    with database.connect() as conn:
        examples = _examples(_chunks(conn, 4))
        kept, gone = (create_session(conn, name, ["rust"], {}) for name in ("kept", "gone"))
        ids = store_examples(conn, kept, examples)
        assert len(ids) == len(set(ids)) == examples.height
        link_examples(conn, gone, ids[:2])
        assert len(_stored(conn, gone)) == 2
        conn.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="not in t5_training_sessions"):
            link_examples(conn, "00000000-0000-0000-0000-000000000000", ids)
        conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("update t5_session_examples set training_session_id = gen_random_uuid() "
                         "where training_session_id = %s", (gone,))
        conn.rollback()
        # migration 9: a session's id stays while rows link it (an id nothing links may change)
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="still link session"):
            conn.execute("update t5_training_sessions set id = gen_random_uuid() where id = %s", (gone,))
        conn.rollback()
        conn.execute("delete from t5_training_sessions where id = %s", (gone,))
        assert conn.execute("select count(*) from t5_session_examples where training_session_id = %s",
                            (gone,)).fetchone()[0] == 0
        _close(_stored(conn, kept), _expected(examples))  # the other session keeps its rows
        conn.execute("truncate t5_training_sessions cascade")
        assert conn.execute("select count(*) from t5_session_examples").fetchone()[0] == 0


def test_every_statement_deleting_contents_moves_the_epoch(database: Database):
    """Migration 9: what a retrain checks before it links content ids a previous run stored."""
    from rxt5_assets.db.sessions import contents_epoch

    with database.connect() as conn:
        session = create_session(conn, "s", ["rust"], {})
        store_examples(conn, session, _examples(_chunks(conn, 2)))
        before = contents_epoch(conn)
        conn.execute("update t5_example_contents set code_chunk_id = null")  # what deleting code_chunks does
        assert contents_epoch(conn) == before
        conn.execute("delete from t5_example_contents c where not exists "
                     "(select 1 from t5_session_examples l where l.example_id = c.id)")  # the prune, even of nothing
        assert contents_epoch(conn) == before + 1
        conn.execute("truncate t5_example_contents")
        assert contents_epoch(conn) == before + 2
