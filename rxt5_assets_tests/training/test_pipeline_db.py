"""Training runs recorded in the real database: live progress rows, resume without duplicates, model versions, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from transformers import TrainerCallback

from rxt5_assets.cli import main
from rxt5_assets.db import Database
from rxt5_assets.db.sessions import get_session
from rxt5_assets.pipeline import SESSION_FILE, train_and_register

SEED_PROGRESS = ("SELECT epoch, step, loss, learning_rate, training_time_seconds FROM t5_training_progress "
                 "WHERE training_session_id = '{id}' ORDER BY inserted_at DESC;")


class RowsDuringTraining(TrainerCallback):
    """Counts t5_training_progress rows with the seed's query while the trainer is still running."""

    def __init__(self, database: Database):
        self.database = database
        self.session_id = None
        self.seen_during_training = 0

    def on_step_end(self, args, state, control, **kwargs):
        marker = json.loads((Path(args.output_dir) / SESSION_FILE).read_text())
        with self.database.connect() as conn:
            rows = conn.execute(SEED_PROGRESS.format(id=marker["session_id"])).fetchall()
        self.seen_during_training = max(self.seen_during_training, len(rows))


class InterruptAfterFirstCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C (or a killed worker) does mid-training


def test_progress_rows_land_while_training_runs(database: Database, make_config):
    watcher = RowsDuringTraining(database)
    outcome = train_and_register(database, make_config(epochs=2), callbacks=[watcher])
    assert watcher.seen_during_training > 0  # rows were visible before the run ended
    with database.connect() as conn:
        rows = conn.execute(SEED_PROGRESS.format(id=outcome.session_id)).fetchall()
        version = conn.execute("select version, is_active, adapter_path, hyperparameters, training_session_id::text "
                               "from t5_model_versions").fetchone()
        session = get_session(conn, outcome.session_id)
        keyed = conn.execute("select kind, step from t5_training_progress where training_session_id = %s",
                             (outcome.session_id,)).fetchall()
    assert len(keyed) == len(set(keyed)) == len(rows)  # one row per (kind, step)
    assert {kind for kind, _ in keyed} == {"train", "eval"}  # logging steps and each epoch's eval loss
    assert max(step for _, step in keyed) == outcome.result.global_step
    assert version[0] == outcome.version and version[1] is False  # registered inactive
    assert (outcome.result.adapter_dir / "adapter_config.json").exists() and version[2] == str(outcome.result.adapter_dir)
    assert version[3]["lora_r"] == 16 and version[4] == outcome.session_id
    assert session["status"] == "completed" and session["stats"]["training"]["model_version_id"]

    # the base's eval row at step 0 comes before every training row; eval rows carry the per-language losses
    with database.connect() as conn:
        evals = conn.execute("select step, eval_loss, metrics, inserted_at from t5_training_progress "
                             "where training_session_id = %s and kind = 'eval' order by step",
                             (outcome.session_id,)).fetchall()
        first_train = conn.execute("select min(inserted_at) from t5_training_progress "
                                   "where training_session_id = %s and kind = 'train'",
                                   (outcome.session_id,)).fetchone()[0]
        performance = conn.execute("select performance_metrics from t5_model_versions").fetchone()[0]
    assert [step for step, *_ in evals] == [0, 6, 12]
    assert evals[0][1] == pytest.approx(outcome.result.base_eval_loss) and evals[0][3] < first_train
    for _, _, metrics, _ in evals:
        by_language = metrics["eval_loss_by_language"]
        assert set(by_language) == {"rust", "elixir", "rust->elixir"}
        assert all(math.isfinite(v) for v in by_language.values())
        assert set(metrics["eval_loss_by_task"]) == {"implement", "translate"}
    assert performance["base_eval_loss"] == pytest.approx(evals[0][1])
    assert performance["eval_loss_by_language"] == pytest.approx(evals[-1][2]["eval_loss_by_language"])


def test_interrupted_run_resumes_without_duplicate_progress_rows(database: Database, make_config):
    with pytest.raises(KeyboardInterrupt):
        train_and_register(database, make_config(epochs=3), callbacks=[InterruptAfterFirstCheckpoint()])
    config = make_config(epochs=3)
    session_id = json.loads((config.output_dir / SESSION_FILE).read_text())["session_id"]
    with database.connect() as conn:
        interrupted = get_session(conn, session_id)
        rows_before = conn.execute("select count(*) from t5_training_progress where training_session_id = %s",
                                   (session_id,)).fetchone()[0]
    assert interrupted["status"] == "interrupted" and "--resume" in interrupted["error"]
    assert rows_before > 0

    outcome = train_and_register(database, make_config(epochs=3, resume=True))
    assert outcome.session_id == session_id  # the same session continues
    assert outcome.result.resumed_from_step is not None and outcome.result.resumed_from_step > 0
    with database.connect() as conn:
        rows = conn.execute("select kind, step from t5_training_progress where training_session_id = %s",
                            (session_id,)).fetchall()
        session = get_session(conn, session_id)
    assert len(rows) == len(set(rows))  # no step stored twice
    assert max(step for kind, step in rows if kind == "train") == outcome.result.global_step
    # the base was evaluated once, before the interruption, and its row survived the resume
    assert sorted(step for kind, step in rows if kind == "eval") == [0, 6, 12, 18]
    assert outcome.result.base_eval_loss is not None
    assert session["status"] == "completed"
    assert session["stats"]["training"]["resumes"] == [outcome.result.resumed_from_step]


def test_train_command_records_a_version(database: Database, train_file, eval_file, models_dir, tmp_path, capsys,
                                         monkeypatch):
    monkeypatch.setenv("RXT5_DATABASE_URL", database.url)
    (tmp_path / "home").mkdir()
    # the cached tiny base lives in <home>/models: reuse the session's so the command doesn't rebuild it
    (tmp_path / "home" / "models").symlink_to(models_dir)
    code = main(["--home", str(tmp_path / "home"), "train", "--train-file", str(train_file), "--eval-file",
                 str(eval_file), "--output-dir", str(tmp_path / "out"), "--epochs", "1", "--learning-rate", "2.0e-4",
                 "--cross-language-learning", "--rust-weight", "1.0", "--elixir-weight", "1.0",
                 "--train-batch-size", "2", "--gradient-accumulation", "4", "--max-steps", "3"])
    assert code == 0
    out = capsys.readouterr().out
    assert "version:" in out and "(inactive" in out
    with database.connect() as conn:
        assert conn.execute("select count(*) from t5_model_versions where not is_active").fetchone()[0] == 1


def test_train_command_reports_bad_jsonl_with_file_and_line(database: Database, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RXT5_DATABASE_URL", database.url)
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"input": "a", "target": "b", "language": "rust", "task": "t", "quality_score": 1, '
                   '"source_id": "1"}\n{not json\n')
    code = main(["--home", str(tmp_path), "train", "--train-file", str(bad), "--output-dir", str(tmp_path / "o")])
    assert code == 1
    assert f"{bad}:2" in capsys.readouterr().err


def test_only_an_unfinished_run_on_the_same_dataset_is_resumed(database: Database, tmp_path):
    from rxt5_assets.db.sessions import create_session
    from rxt5_assets.pipeline import unfinished_run

    with database.connect() as conn:
        current = create_session(conn, "d", ["rust"], {})
        retrain = create_session(conn, "d", ["rust"], {"dataset_session_id": current})
        other = create_session(conn, "d", ["rust"], {})
    runs = tmp_path / "runs"
    for session_id, finished in ((other, False), (retrain, False), (current, True)):
        run = runs / session_id
        (run / "checkpoint-8").mkdir(parents=True)
        (run / SESSION_FILE).write_text(json.dumps({"session_id": session_id}))
        if finished:
            (run / "adapter").mkdir()
            (run / "adapter" / "README.md").write_text("card")
    assert unfinished_run(database, runs, current) == (runs / retrain, retrain)  # a retrain of this dataset, killed
    assert unfinished_run(database, runs, other) == (runs / other, other)
    with database.connect() as conn:
        fresh = create_session(conn, "d", ["rust"], {})
    assert unfinished_run(database, runs, fresh) is None  # never another dataset's checkpoints
