"""Issue 9 for training: one trainer per session and run folder, registered adapters never rewritten, killed trainers
and killed run processes leave an `interrupted` session and free locks, bad input rejected before anything exists."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from transformers import TrainerCallback

from rxt5_assets.cli import main
from rxt5_assets.db import Database
from rxt5_assets.db.locks import TrainingBusyError, mark_stale_sessions
from rxt5_assets.db.model_versions import register_version
from rxt5_assets.db.sessions import create_session, get_session
from rxt5_assets.pipeline import SESSION_FILE, AdapterRegisteredError, train_and_register

REPO = Path(__file__).resolve().parents[2]


class HoldAtFirstStep(TrainerCallback):
    """Stops the trainer at its first step until the test lets it go (deterministic overlap, nothing timed)."""

    def __init__(self):
        self.reached, self.release = threading.Event(), threading.Event()

    def on_step_end(self, args, state, control, **kwargs):
        self.reached.set()
        assert self.release.wait(300)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _counts(database: Database) -> tuple[int, int]:
    with database.connect() as conn:
        return (conn.execute("select count(*) from t5_training_sessions").fetchone()[0],
                conn.execute("select count(*) from t5_model_versions").fetchone()[0])


def test_two_trainings_of_one_session_or_folder_one_wins_and_the_adapter_is_never_rewritten(
        database: Database, make_config, tmp_path):
    hold = HoldAtFirstStep()
    first: dict = {}
    runner = threading.Thread(target=lambda: first.update(
        outcome=train_and_register(database, make_config(epochs=1), callbacks=[hold])))
    runner.start()
    try:
        assert hold.reached.wait(300)
        session_id = json.loads((tmp_path / "run" / SESSION_FILE).read_text())["session_id"]
        sessions_before, _ = _counts(database)
        # the same run folder (a re-materialization resuming it, or a second `rxt5 train --output-dir`)
        with pytest.raises(TrainingBusyError, match="being trained into by another process"):
            train_and_register(database, make_config(epochs=1, resume=True))
        # the same session in another folder
        with pytest.raises(TrainingBusyError, match=f"session {session_id} is being trained by rxt5-train pid"):
            train_and_register(database, make_config(epochs=1, output_dir=tmp_path / "other"),
                               session_id=session_id)
        with database.connect() as conn:
            assert mark_stale_sessions(conn) == []  # its trainer is alive: not stale
            assert get_session(conn, session_id)["status"] == "training"
        assert _counts(database)[0] == sessions_before  # the refused trainers inserted nothing
    finally:
        hold.release.set()
        runner.join()
    outcome = first["outcome"]
    assert outcome.session_id == session_id
    adapter = outcome.result.adapter_dir
    before = _digest(adapter)
    assert "adapter_model.safetensors" in before
    sessions, versions = _counts(database)
    assert versions == 1

    # once registered, the folder and the session are never trained again
    with pytest.raises(AdapterRegisteredError, match="never written again"):
        train_and_register(database, make_config(epochs=1, resume=True))
    with pytest.raises(AdapterRegisteredError, match="already completed"):
        train_and_register(database, make_config(epochs=1, output_dir=tmp_path / "other2"), session_id=session_id)
    assert _digest(adapter) == before and _counts(database) == (sessions, 1)
    assert not list((tmp_path / "run").glob(".adapter.partial-*"))

    # registering again for the session returns the same version (idempotent), no second row
    with database.connect() as conn:
        again = register_version(conn, version="v-again", base_model="tiny", training_session_id=session_id,
                                 adapter_path=str(adapter), hyperparameters={})
    assert again == outcome.model_version_id and _counts(database)[1] == 1


def _config_kwargs(train_file: Path, eval_file: Path, output_dir: Path, models_dir: Path) -> dict:
    return dict(train_file=str(train_file), eval_file=str(eval_file), output_dir=str(output_dir),
                models_dir=str(models_dir), base_model="demo", epochs=1000, max_steps=100000, train_batch_size=4,
                logging_steps=1, max_source_length=64, max_target_length=48, save_total_limit=1)


def _start(role: str, database: Database, kwargs: dict, ready: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "rxt5_assets_tests.training.kill_helpers", role, database.url,
                             json.dumps(kwargs), str(ready)], env=env, cwd=REPO)


def _wait_for(path: Path, process: subprocess.Popen) -> None:
    for _ in range(2400):  # a generous bound for a loaded machine, never an assertion on speed
        if path.exists() or process.poll() is not None:
            break
        time.sleep(0.1)
    assert path.exists(), f"the trainer never reached its first step (exit {process.poll()})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie waiting for its (dead) parent counts as gone
        return fh.read().split(") ")[1][0] != "Z"


def test_sigkill_of_the_run_process_stops_its_step_worker_and_marks_the_session_interrupted(
        database: Database, train_file, eval_file, models_dir, tmp_path):
    ready = tmp_path / "ready"
    kwargs = _config_kwargs(train_file, eval_file, tmp_path / "run", models_dir)
    parent = _start("parent", database, kwargs, ready)
    try:
        _wait_for(ready, parent)
        child = int(Path(str(ready) + ".child").read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        for _ in range(1200):
            if not _alive(child):
                break
            time.sleep(0.1)
        assert not _alive(child), "the step worker trained on as an orphan"
    finally:
        parent.kill()
    session_id = json.loads((tmp_path / "run" / SESSION_FILE).read_text())["session_id"]
    with database.connect() as conn:
        session = get_session(conn, session_id)
        assert mark_stale_sessions(conn) == []  # the worker marked itself on the way out
    assert session["status"] == "interrupted" and "--resume" in session["error"]


def test_a_sigkilled_trainer_is_marked_interrupted_by_db_status_and_a_resume_clears_the_error(
        database: Database, train_file, eval_file, models_dir, tmp_path, monkeypatch, capsys):
    ready = tmp_path / "ready"
    kwargs = _config_kwargs(train_file, eval_file, tmp_path / "run", models_dir)
    kwargs.update(max_steps=None, train_batch_size=48)  # one step per epoch, a checkpoint after each
    trainer = _start("trainer", database, kwargs, ready)
    try:
        _wait_for(ready, trainer)
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
    finally:
        trainer.kill()
    session_id = json.loads((tmp_path / "run" / SESSION_FILE).read_text())["session_id"]
    with database.connect() as conn:
        assert get_session(conn, session_id)["status"] == "training"  # nobody could say otherwise: it was SIGKILLed
    monkeypatch.setenv("RXT5_DATABASE_URL", database.url)
    assert main(["--home", str(tmp_path), "db", "status"]) == 0
    assert session_id in capsys.readouterr().out
    with database.connect() as conn:
        session = get_session(conn, session_id)
    assert session["status"] == "interrupted" and "--resume" in session["error"]

    from rxt5_assets.training.config import TrainConfig

    resumed = train_and_register(database, TrainConfig(**{**kwargs, "resume": True, "epochs": 2}))
    with database.connect() as conn:
        session = get_session(conn, session_id)
    assert resumed.session_id == session_id and session["status"] == "completed" and session["error"] is None


# ---------------------------------------------------------------------------------------------------------------------
# rejected input: one line, no session, no folder


def _train_args(tmp_path: Path, train: Path, output: Path, *extra: str) -> list[str]:
    return ["--home", str(tmp_path), "train", "--train-file", str(train), "--output-dir", str(output), *extra]


def test_rejected_train_input_creates_nothing(database: Database, train_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RXT5_DATABASE_URL", database.url)
    database.migrate()
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    latin1 = tmp_path / "latin1.jsonl"
    good_line = train_file.read_text().splitlines()[0]
    latin1.write_bytes((good_line + "\n").encode() + '{"input": "caf\xe9"}\n'.encode("latin-1"))
    cases = [
        (_train_args(tmp_path, train_file, a_file), f"--output-dir {a_file} exists and is not a folder"),
        (_train_args(tmp_path, latin1, tmp_path / "out1"), f"{latin1}:2: not UTF-8"),
        (_train_args(tmp_path, tmp_path / "missing.jsonl", tmp_path / "out2"), "missing.jsonl: no such file"),
        (_train_args(tmp_path, train_file, tmp_path / "out3", "--base-model", str(tmp_path / "nowhere")),
         "does not exist"),
    ]
    for argv, message in cases:
        assert main(argv) in (1, 2), argv  # 2: a missing file or folder
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for value in ("inf", "nan", "-Infinity"):
        with pytest.raises(SystemExit) as exit_info:
            main(_train_args(tmp_path, train_file, tmp_path / "out4", f"--epochs={value}"))
        assert exit_info.value.code == 2 and "not a finite number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(_train_args(tmp_path, train_file, tmp_path / "out4", "--rust-weight", "nan"))
    assert _counts(database) == (0, 0)  # no `failed` session for input rejected before training
    assert not any((tmp_path / f"out{i}").exists() for i in range(1, 5))


def test_ingest_refuses_a_path_together_with_demo(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "ingest", str(tmp_path), "--demo"]) == 2
    assert "not both" in capsys.readouterr().err


def test_files_written_by_a_training_are_private(database: Database, make_config, tmp_path):
    before = os.umask(0o077)  # what the CLI and the Dagster resources set (rxt5_assets.db.connection.secure_umask)
    try:
        outcome = train_and_register(database, make_config(epochs=1, max_steps=2))
    finally:
        os.umask(before)
    adapter = outcome.result.adapter_dir
    assert (adapter.stat().st_mode & 0o077) == 0 and (tmp_path / "run").stat().st_mode & 0o077 == 0
    assert all(p.stat().st_mode & 0o077 == 0 for p in adapter.iterdir())
