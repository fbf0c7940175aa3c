"""The data stage on shared example rows (migration 7): a retrain stores only what is new, the pairs stage run again
replaces its examples, and a session's count is its stored rows."""

from __future__ import annotations

from pathlib import Path

from rxt5_assets.data.stages import PrepareConfig, StageFiles, dataset_stage, pairs_stage, preprocess_stage, \
    run_data_stage, scoring_stage
from rxt5_assets.db import Database
from rxt5_assets.ingest import ingest_demo


def _session_counts(conn, session_id: str) -> tuple[int, int, int]:
    return conn.execute(
        "select (select example_count from t5_training_sessions where id = %s), count(*), "
        "count(*) filter (where task in ('translate', 'concept_transfer')) from t5_training_examples "
        "where training_session_id = %s", (session_id, session_id)).fetchone()


def test_pairs_again_replace_and_a_retrain_stores_only_new_contents(database: Database, tmp_path: Path):
    ingest_demo(database, progress=False)
    config = PrepareConfig(workers=1, min_examples=1)
    files = StageFiles(tmp_path / "first" / "work")
    with database.connect() as conn:
        preprocess_stage(conn, files, config)
        conn.commit()
        scoring = scoring_stage(conn, files, config)
        conn.commit()
        first_pairs = pairs_stage(conn, files, config)
        conn.commit()
        again = pairs_stage(conn, files, config)  # the same session, still preparing: its pair examples replaced
        conn.commit()
        assert again["session_id"] == first_pairs["session_id"] == scoring["session_id"]
        manifest = dataset_stage(conn, files, tmp_path / "first" / "dataset", config)
        example_count, stored, pair_rows = _session_counts(conn, manifest["session_id"])
        assert pair_rows == again["examples"].height > 0
        assert stored == scoring["example_count"] + pair_rows
        assert example_count == manifest["train_examples"] + manifest["eval_examples"] == stored  # all fit the mix
        contents = conn.execute("select count(*) from t5_example_contents").fetchone()[0]
        assert contents == stored  # nothing stored twice
    # a retrain with nothing new: a new session, the same examples, no new content row
    with database.connect() as conn:
        retrain = run_data_stage(conn, StageFiles(tmp_path / "second" / "work"), tmp_path / "second" / "dataset",
                                 config, previous=files)
        assert retrain["session_id"] != manifest["session_id"]
        assert _session_counts(conn, retrain["session_id"]) == (example_count, stored, pair_rows)
        assert conn.execute("select count(*) from t5_example_contents").fetchone()[0] == contents
        same = conn.execute(
            "select count(*) from (select input, target, split from t5_training_examples where training_session_id = %s "
            "except all select input, target, split from t5_training_examples where training_session_id = %s) d",
            (retrain["session_id"], manifest["session_id"])).fetchone()[0]
        assert same == 0
