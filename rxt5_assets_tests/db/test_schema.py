"""The schema against a real PostgreSQL: migrations, the seed's SQL verbatim, the single-active-version constraint."""

from __future__ import annotations

import multiprocessing

import psycopg
import pytest

from rxt5_assets.db import SCHEMA_VERSION, Database
from rxt5_assets.db.status import TABLES, database_status, format_status

SEED_RUST = (
    "SELECT content, language, file_path, repo, inserted_at, id FROM code_chunks WHERE language = 'rust' "
    "AND LENGTH(content) >= 50 AND file_path NOT LIKE '%test%';"
)
SEED_ELIXIR = SEED_RUST.replace("'rust'", "'elixir'")
SEED_PROGRESS = (
    "SELECT epoch, step, loss, learning_rate, training_time_seconds FROM t5_training_progress "
    "WHERE training_session_id = '{id}' ORDER BY inserted_at DESC;"
)
SEED_ACTIVE = "SELECT version, performance_metrics, evaluation_results FROM t5_model_versions WHERE is_active = true;"


def test_migrate_twice_is_a_no_op(empty_database: Database):
    assert empty_database.migrate() == list(range(1, SCHEMA_VERSION + 1))
    assert empty_database.migrate() == []
    with empty_database.connect() as conn:
        tables = {row[0] for row in conn.execute("select tablename from pg_tables where schemaname = 'public'")}
        views = {row[0] for row in conn.execute("select viewname from pg_views where schemaname = 'public'")}
    assert set(TABLES) <= tables | views
    assert "t5_training_examples" in views  # migration 7: a session's examples over the shared contents


def _migrate_in_process(url: str, queue) -> None:
    try:
        queue.put(("ok", Database(url).migrate()))
    except Exception as exc:  # report, don't hang the parent
        queue.put(("error", repr(exc)))


def test_concurrent_migrations_from_two_processes(empty_database: Database):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_migrate_in_process, args=(empty_database.url, queue)) for _ in range(3)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert all(status == "ok" for status, _ in results), results
    # exactly one process applied the migration, the others found it done
    assert sorted(tuple(applied) for _, applied in results) == [(), (), tuple(range(1, SCHEMA_VERSION + 1))]
    with empty_database.connect() as conn:
        assert conn.execute("select count(*) from rxt5_schema_migrations").fetchone()[0] == SCHEMA_VERSION


def test_seed_chunk_queries_run_verbatim(database: Database):
    long_rust = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b // adds two numbers together\n}\n"
    long_elixir = "def add(a, b) do\n  # adds two numbers together, nothing more\n  a + b\nend\n"
    rows = [
        (long_rust, "rust", "src/math.rs", "calc"),
        (long_rust, "rust", "tests/math_test.rs", "calc"),  # test path: excluded
        ("fn x() {}", "rust", "src/x.rs", "calc"),  # shorter than 50: excluded
        (long_elixir, "elixir", "lib/math.ex", "calc_ex"),
        (long_elixir, "elixir", "test/math_test.exs", "calc_ex"),
    ]
    with database.connect() as conn:
        conn.cursor().executemany(
            "insert into code_chunks (content, language, file_path, repo) values (%s, %s, %s, %s)", rows
        )
        rust = conn.execute(SEED_RUST).fetchall()
        elixir = conn.execute(SEED_ELIXIR).fetchall()
    assert [(r[1], r[2], r[3]) for r in rust] == [("rust", "src/math.rs", "calc")]
    assert [(r[1], r[2]) for r in elixir] == [("elixir", "lib/math.ex")]
    assert rust[0][4] is not None and isinstance(rust[0][5], int)


def test_seed_progress_and_active_version_queries_run_verbatim(database: Database):
    with database.connect() as conn:
        session_id = conn.execute(
            "insert into t5_training_sessions (name, languages) values ('s', '{rust,elixir}') returning id"
        ).fetchone()[0]
        for step, loss in ((10, 2.5), (20, 1.9)):
            conn.execute(
                "insert into t5_training_progress (training_session_id, epoch, step, loss, learning_rate, "
                "training_time_seconds) values (%s, %s, %s, %s, 2e-4, %s)",
                (session_id, step / 20, step, loss, step * 0.5),
            )
        conn.execute(
            "insert into t5_model_versions (version, base_model, is_active, performance_metrics) "
            "values ('v1', 'tiny', true, '{\"chrf\": 31.5}')"
        )
        progress = conn.execute(SEED_PROGRESS.format(id=session_id)).fetchall()
        active = conn.execute(SEED_ACTIVE).fetchall()
    assert [row[1] for row in progress] == [20, 10]  # newest first
    assert progress[0][2] == pytest.approx(1.9)
    assert active == [("v1", {"chrf": 31.5}, {})]


def test_at_most_one_active_version_is_enforced_by_the_database(database: Database):
    with database.connect() as conn:
        conn.execute("insert into t5_model_versions (version, base_model, is_active) values ('v1', 'tiny', true)")
        conn.execute("insert into t5_model_versions (version, base_model) values ('v2', 'tiny')")
        conn.commit()
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("update t5_model_versions set is_active = true where version = 'v2'")
        conn.rollback()
        # switching inside one transaction is the supported way
        with conn.transaction():
            conn.execute("update t5_model_versions set is_active = false where is_active")
            conn.execute("update t5_model_versions set is_active = true where version = 'v2'")
        assert conn.execute(SEED_ACTIVE).fetchall()[0][0] == "v2"


def test_quality_score_must_lie_in_unit_interval(database: Database):
    with database.connect() as conn:
        session_id = conn.execute("insert into t5_training_sessions (name) values ('s') returning id").fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "insert into t5_training_examples (training_session_id, language, task, input, target, quality_score)"
                " values (%s, 'rust', 'doc', 'i', 't', 1.5)",
                (session_id,),
            )


def test_status_reports_schema_version_and_counts(database: Database):
    status = database_status(database)
    assert status["schema_version"] == SCHEMA_VERSION == status["schema_latest"]
    assert status["row_counts"]["code_chunks"] == 0
    assert "t5_model_versions" in format_status(status)


def test_status_of_unmigrated_database_says_what_to_do(empty_database: Database):
    status = database_status(empty_database)
    assert status["schema_version"] == 0
    assert status["row_counts"]["code_chunks"] is None
    assert "rxt5 db migrate" in format_status(status)


def test_upgrading_a_version_1_database_keeps_progress_rows_and_adds_their_metrics(empty_database: Database,
                                                                                  monkeypatch):
    from rxt5_assets.db import migrations

    full = list(migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", full[:1])  # a database created before migration 2 existed
    assert empty_database.migrate() == [1]
    with empty_database.connect() as conn:
        session = conn.execute("insert into t5_training_sessions (name) values ('old') returning id").fetchone()[0]
        conn.execute("insert into t5_training_progress (training_session_id, kind, epoch, step, eval_loss) "
                     "values (%s, 'eval', 1, 6, 4.5)", (session,))
    monkeypatch.setattr(migrations, "MIGRATIONS", full)
    assert empty_database.migrate() == [v for v, _, _ in full[1:]]
    with empty_database.connect() as conn:
        assert conn.execute("select eval_loss, metrics from t5_training_progress").fetchall() == [(4.5, {})]
