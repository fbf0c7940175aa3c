"""The retraining sensor: counting new eligible chunks from a cursor, its skip reasons, one run per batch, no second
retrain while one is running, and the whole loop — ingest, materialize, ingest more, tick, run, new version, skip."""

from __future__ import annotations

import uuid
from pathlib import Path

from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus, Definitions, SkipReason, build_sensor_context

from rxt5_assets.data.chunks import ChunkSelection
from rxt5_assets.data.new_chunks import NEW_CHUNKS_SQL, RetrainThreshold, count_new_chunks
from rxt5_assets.db import Database
from rxt5_assets.defs.data_assets import DATA_ASSETS, DATA_CHECKS
from rxt5_assets.defs.evaluation_assets import EVALUATION_ASSETS, EVALUATION_CHECKS, retrain_job
from rxt5_assets.defs.evaluation_resources import EvaluationResource
from rxt5_assets.defs.model_assets import MODEL_ASSETS
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, TrainingResource, WorkspaceResource
from rxt5_assets.defs.sensors import MAX_CHUNK_ID_TAG, RetrainSensorResource, new_code_chunks_sensor
from rxt5_assets.evaluation.promotion import deploy
from rxt5_assets.ingest import DEMO_CORPUS, ingest_path
from rxt5_assets.summary import format_summary, quickstart_summary
from rxt5_assets_tests.evaluation.trained import TEST_METRICS, one_torch_thread

RUST_BODY = "pub fn add_{i}(a: u64, b: u64) -> u64 {{\n    // adds two numbers\n    a.wrapping_add(b) + {i}\n}}\n"


def _insert(conn, rows):
    with conn.cursor() as cur:
        cur.executemany("insert into code_chunks (content, language, file_path, repo) values (%s, %s, %s, %s)", rows)
    conn.commit()


def conn_count(database: Database) -> int:
    with database.connect() as conn:
        return conn.execute("select count(*) from code_chunks").fetchone()[0]


def _sensor_resources(database: Database, **threshold) -> dict:
    return {"database": DatabaseResource(database_url=database.url), "data_prep": DataPreparationResource(),
            "retrain_sensor": RetrainSensorResource(**threshold)}


def test_new_chunks_are_counted_per_language_from_the_cursor_with_the_data_stage_selection(database: Database):
    with database.connect() as conn:
        _insert(conn, [(RUST_BODY.format(i=i), "rust", f"src/m{i}.rs", "r") for i in range(5)])
        _insert(conn, [
            ("short", "rust", "src/s.rs", "r"),                                           # too short: not eligible
            (RUST_BODY.format(i=99), "rust", "tests/t.rs", "r"),                          # a test path
            (RUST_BODY.format(i=98), "python", "x.py", "r"),                              # not a trained language
            ("defmodule A do\n  def a(x), do: x + 1\n  def b(x), do: x * 2 # doubles\nend\n", "elixir", "lib/a.ex", "e"),
        ])
        first_id = conn.execute("select min(id) from code_chunks").fetchone()[0]
        new = count_new_chunks(conn, 0, ChunkSelection())
        assert new.per_language == {"rust": 5, "elixir": 1} and new.total == 6
        assert new.max_id == conn.execute("select max(id) from code_chunks where language = 'elixir'").fetchone()[0]
        later = count_new_chunks(conn, first_id + 2, ChunkSelection())  # the cursor excludes what it has seen
        assert later.per_language == {"rust": 2, "elixir": 1}
        assert count_new_chunks(conn, new.max_id, ChunkSelection()).total == 0
        # the query can walk the (language, id) index from the cursor instead of scanning the table
        conn.execute("set enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute("explain " + NEW_CHUNKS_SQL.replace("%s", "{}").format(
            "array['rust','elixir']", new.max_id, 50, "'%test%'")).fetchall())
        assert "code_chunks_language_id_idx" in plan, plan


def test_threshold_in_all_or_per_language():
    from rxt5_assets.data.new_chunks import NewChunks

    new = NewChunks(after_id=10, per_language={"rust": 30, "elixir": 12}, max_id=99)
    assert RetrainThreshold(min_new_chunks=40).reached(new) == ["42 new chunks ≥ 40"]
    assert RetrainThreshold(min_new_chunks=100).reached(new) == []
    assert RetrainThreshold(min_new_chunks=100, per_language={"elixir": 10}).reached(new) == ["12 new elixir chunks ≥ 10"]
    assert "42 new eligible chunk(s) since id 10 (elixir: 12, rust: 30); a retrain needs 100" in \
        RetrainThreshold(min_new_chunks=100).describe_shortfall(new)


def test_sensor_skips_below_the_threshold_requests_one_run_per_batch_and_waits_for_a_running_retrain(
        database: Database):
    instance = DagsterInstance.ephemeral()
    resources = _sensor_resources(database, min_new_chunks=4)
    with database.connect() as conn:
        _insert(conn, [(RUST_BODY.format(i=i), "rust", f"src/m{i}.rs", "r") for i in range(3)])

    def tick(cursor):
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            return new_code_chunks_sensor(context), context

    result, _ = tick(None)
    assert not result.run_requests and "3 new eligible chunk(s) since id 0 (rust: 3); a retrain needs 4" in \
        result.skip_reason.skip_message and result.cursor == "0"

    with database.connect() as conn:
        _insert(conn, [(RUST_BODY.format(i=i), "rust", f"src/n{i}.rs", "r") for i in range(3, 6)])
        newest = conn.execute("select max(id) from code_chunks").fetchone()[0]
    result, _ = tick("0")
    (request,) = result.run_requests
    assert request.run_key == f"chunks-1-{newest}" and request.tags[MAX_CHUNK_ID_TAG] == str(newest)
    assert result.cursor == str(newest)
    again, _ = tick(result.cursor)  # the same batch never triggers twice
    assert not again.run_requests and again.skip_reason.skip_message.startswith("0 new eligible chunk(s)")

    # while a retrain is queued or running, new chunks wait and the cursor stays
    running = DagsterRun(job_name=retrain_job.name, run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED)
    instance.add_run(running)
    with database.connect() as conn:
        _insert(conn, [(RUST_BODY.format(i=i), "rust", f"src/o{i}.rs", "r") for i in range(6, 12)])
    waiting, _ = tick(str(newest))
    assert not waiting.run_requests and running.run_id in waiting.skip_reason.skip_message
    assert waiting.cursor == str(newest)
    instance.report_run_failed(running)
    resumed, _ = tick(str(newest))
    assert len(resumed.run_requests) == 1 and int(resumed.cursor) > newest


def test_sensor_loop_end_to_end_new_code_retrains_registers_and_gates_a_version(database: Database, tmp_path: Path):
    first = [DEMO_CORPUS / "rust" / "edge-gateway", DEMO_CORPUS / "rust" / "job-runner",
             DEMO_CORPUS / "elixir" / "edge_gateway", DEMO_CORPUS / "elixir" / "job_runner"]
    rest = [DEMO_CORPUS / "rust" / "ledger-core", DEMO_CORPUS / "elixir" / "billing_service"]
    for repo in first:
        ingest_path(database, repo, repo.name, progress=False)
    resources = {
        "database": DatabaseResource(database_url=database.url),
        "data_prep": DataPreparationResource(workers=1, max_examples=120, min_examples=10),
        "workspace": WorkspaceResource(home=str(tmp_path)),
        "training": TrainingResource(max_steps=8, logging_steps=4, train_batch_size=8, continue_from_active=True),
        "evaluation": EvaluationResource(max_rows=6, k=2, max_new_tokens=32, metrics=list(TEST_METRICS)),
        "retrain_sensor": RetrainSensorResource(min_new_chunks=50),
    }
    defs = Definitions(assets=[*DATA_ASSETS, *MODEL_ASSETS, *EVALUATION_ASSETS],
                       asset_checks=[*DATA_CHECKS, *EVALUATION_CHECKS], jobs=[retrain_job],
                       sensors=[new_code_chunks_sensor], resources=resources)
    job = defs.resolve_job_def("retrain_job")
    instance = DagsterInstance.ephemeral()
    with one_torch_thread():
        job.execute_in_process(instance=instance, raise_on_error=False)
    with database.connect() as conn:
        versions_before = conn.execute("select count(*) from t5_model_versions where version not like 'base-%'"
                                       ).fetchone()[0]
        trained_up_to = conn.execute("select max(max_code_chunk_id) from t5_training_sessions").fetchone()[0]
    assert versions_before == 1
    with database.connect() as conn:
        v1, v1_adapter = conn.execute("select version, adapter_path from t5_model_versions "
                                      "where version not like 'base-%'").fetchone()
    deploy(database, v1, home=tmp_path, force=True)  # served, whatever the gate said of an 8-step adapter

    # a fresh daemon starts after what training already saw: nothing new yet
    with build_sensor_context(instance=instance, resources=resources) as context:
        idle = new_code_chunks_sensor(context)
    assert not idle.run_requests and int(idle.cursor) >= trained_up_to

    for repo in rest:
        ingest_path(database, repo, repo.name, progress=False)
    with build_sensor_context(instance=instance, cursor=idle.cursor, resources=resources) as context:
        fired = new_code_chunks_sensor(context)
    (request,) = fired.run_requests
    # a chunk that lands after the tick belongs to the next run, not to this one
    with database.connect() as conn:
        _insert(conn, [(RUST_BODY.format(i=1000), "rust", "src/late.rs", "late-repo")])
        late_id = conn.execute("select max(id) from code_chunks").fetchone()[0]
    with one_torch_thread():
        run = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
    with database.connect() as conn:
        versions = conn.execute("select version, status, id from t5_model_versions where version not like 'base-%' "
                                "order by inserted_at").fetchall()
        sessions = conn.execute("select max_code_chunk_id from t5_training_sessions order by inserted_at").fetchall()
        decided = conn.execute("select count(*) from t5_evaluations where candidate_version_id = %s "
                               "and status = 'completed'", [versions[-1][2]]).fetchone()[0]
    assert len(versions) == 2, versions            # a new session, a new version
    assert versions[-1][1] in ("active", "rejected", "evaluated"), versions
    assert decided >= 1                            # the gate compared it (passed or refused, both are outcomes)
    with database.connect() as conn:                # continuous learning: the retrain continued the served adapter
        assert conn.execute("select hyperparameters->>'init_adapter' from t5_model_versions where id = %s",
                            [versions[-1][2]]).fetchone()[0] == v1_adapter
    assert run.dagster_run.tags[MAX_CHUNK_ID_TAG] == request.tags[MAX_CHUNK_ID_TAG]
    assert max(s[0] for s in sessions if s[0]) <= int(request.tags[MAX_CHUNK_ID_TAG]) < late_id
    meta = instance.get_latest_materialization_event(AssetKey("preprocessed_chunks")).asset_materialization.metadata
    assert meta["max_chunk_id"].value == int(request.tags[MAX_CHUNK_ID_TAG])
    summary = quickstart_summary(database, sample=False, home=tmp_path)
    assert sum(summary["chunks"].values()) == conn_count(database)
    assert summary["training"]["version"] == versions[-1][0] and summary["evaluation"]["rows"] >= 1
    assert set(summary["evaluation"]["systems"]) >= {"candidate", "template"}
    assert summary["active_version"] in {v[0] for v in versions}
    text = format_summary(summary)
    assert versions[-1][0] in text and "rxt5 generate" in text and "gate " in text
    with build_sensor_context(instance=instance, cursor=fired.cursor, resources=resources) as context:
        after = new_code_chunks_sensor(context)
    assert not after.run_requests and isinstance(after.skip_reason, SkipReason)
    assert after.skip_reason.skip_message.startswith("1 new eligible chunk(s)")  # the late one, for the next run
