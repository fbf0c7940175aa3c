"""Training runs with their database records: one code path for `rxt5 train` and the lora_adapter asset.

A run writes each logging step to t5_training_progress as it happens, keeps its t5_training_sessions row telling what
happened (training → completed | failed | interrupted, with every resume listed in stats.training.resumes), and registers
the adapter as a new, inactive t5_model_versions row. The session id is remembered in `<output_dir>/rxt5_session.json`,
so `--resume` (or re-materializing the asset) continues the same session from the last checkpoint.

Under torchrun / accelerate launch every rank runs the same command: rank 0 creates the session before the trainer
initialises the process group, records the progress and registers the version; the other ranks only train (they never
connect to the database, and need no session id).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import psycopg

from rxt5_assets.db import Database
from rxt5_assets.db.connection import DatabaseError, redact
from rxt5_assets.db.locks import TrainingLock, mark_stale_sessions
from rxt5_assets.db.model_versions import new_version_name, register_version, version_for_adapter
from rxt5_assets.db.progress import PostgresProgressSink
from rxt5_assets.db.sessions import create_session, get_session, update_session
from rxt5_assets.errors import UserFacingError
from rxt5_assets.training.distributed import is_main_process

SESSION_FILE = "rxt5_session.json"
log = logging.getLogger(__name__)


@dataclass
class TrainingOutcome:
    session_id: str | None  # None on the ranks other than 0 of a multi-process run (they record nothing)
    model_version_id: str | None
    version: str | None
    result: object  # training.trainer.TrainResult


class TrainingInputError(UserFacingError):
    """A `rxt5 train` / lora_adapter input is unusable; raised before any session or folder is created."""


class AdapterRegisteredError(UserFacingError):
    """The run folder's adapter is a registered version's: it is never written again."""


def _check_output_dir(output_dir: Path) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise TrainingInputError(f"--output-dir {output_dir} exists and is not a folder: give a folder path "
                                 "(a new one, or a run folder to --resume)")
    ancestor = output_dir.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise TrainingInputError(f"--output-dir {output_dir}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise TrainingInputError(f"--output-dir {output_dir}: {ancestor} is not writable by this user")


def _check_base_model(config) -> None:
    """What can be checked about the base without loading it: a local folder exists and holds a model, an HF id is
    in the local cache (unless downloads are allowed). 'demo' and 'tiny' are checked (or built) by the trainer."""
    from rxt5_assets.training.config import DEMO, TINY

    name = config.base_model
    if name in (DEMO, TINY) or config.allow_download:
        return
    from rxt5_assets.training.base_model import BaseModelNotFoundError, _looks_like_path, hf_cache_dir

    expanded = Path(name).expanduser()
    if expanded.is_dir():
        if not (expanded / "config.json").is_file():
            raise BaseModelNotFoundError(f"{expanded} is a folder but holds no config.json: not a saved model")
        return
    if _looks_like_path(name):
        raise BaseModelNotFoundError(f"base model folder {expanded} does not exist")
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(name, "config.json"), str):
        raise BaseModelNotFoundError(
            f"base model {name!r} is not in the Hugging Face cache {hf_cache_dir()}: download it once "
            f"(`huggingface-cli download {name}`), pass --allow-download, or give a local folder")


def validate_training_input(config) -> None:
    """Everything that can reject a training before it starts, checked before a session row or the output folder
    exists: the output path, both JSONL files read in full (file and line of the first bad one), the base."""
    from rxt5_assets.training.data import load_eval_examples, load_training_examples

    _check_output_dir(Path(config.output_dir))
    load_training_examples(config)
    load_eval_examples(config)
    _check_base_model(config)


def _session_for(database: Database, config, session_id: str | None, session_name: str | None,
                 lock: TrainingLock) -> str:
    """The session this run records into — the given one, the one a resumed output_dir remembers, or a new one — with
    its lock held (a new session is inserted and locked in one transaction)."""
    marker = Path(config.output_dir) / SESSION_FILE
    if session_id is None and config.resume and marker.exists():
        remembered = json.loads(marker.read_text())["session_id"]
        with database.connect() as conn:
            remembered_session = get_session(conn, remembered)
            if remembered_session is not None and remembered_session["status"] != "completed":  # never reopened
                session_id = remembered
    if session_id is None:
        session_id = lock.create_session_locked(lambda conn: create_session(
            conn, session_name or Path(config.output_dir).name, ["rust", "elixir"],
            {"train_file": str(config.train_file), "eval_file": str(config.eval_file or ""),
             **config.hyperparameters()},
            status="training",
        ))
    else:
        lock.acquire_session(session_id)
    with database.connect() as conn:
        previous = get_session(conn, session_id)
        if previous is None:
            raise LookupError(f"training session {session_id} is not in t5_training_sessions")
        training = previous.get("stats", {}).get("training", {})
        if previous["status"] == "completed" and training.get("model_version_id"):
            raise AdapterRegisteredError(
                f"training session {session_id} is already completed (version {training.get('version')}); its "
                "adapter is never trained again: start a new training (a new --output-dir, or re-materialize "
                "lora_adapter, which opens a new session)")
        attempts = training.get("attempts", 0) + 1
        update_session(conn, session_id, status="training",
                       stats={"training": {**training, "attempts": attempts,
                                           "hyperparameters": config.hyperparameters()}})
    marker.write_text(json.dumps({"session_id": session_id}))
    return session_id


def _database_lost(exc: BaseException) -> psycopg.OperationalError | None:
    """The psycopg connection error somewhere in exc's chain (PostgreSQL stopped, killed or unreachable)."""
    seen = exc
    while seen is not None:
        if isinstance(seen, psycopg.OperationalError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _record_end(database: Database, session_id: str, status: str, error: str, exc: BaseException) -> None:
    """Mark the session failed / interrupted; when the database itself is gone, say so in one line (the session
    stays `training` with its lock released, and the next run or `rxt5 db status` marks it interrupted)."""
    try:
        with database.connect() as conn:
            update_session(conn, session_id, status=status, error=error)
    except (DatabaseError, psycopg.OperationalError) as lost:
        raise DatabaseError(
            f"lost the connection to PostgreSQL while training session {session_id} "
            f"({_one_line(_database_lost(exc) or lost)}): the checkpoints in the run folder are kept; start the "
            "database again and rerun with --resume (the next run or `rxt5 db status` marks the session "
            "interrupted)") from None
    lost = _database_lost(exc)
    if lost is not None and not isinstance(exc, KeyboardInterrupt):
        raise DatabaseError(f"lost the connection to PostgreSQL while training session {session_id} "
                            f"({_one_line(lost)}); session marked {status}: rerun with --resume") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {redact(text)}"[:300]


def train_and_register(
    database: Database,
    config,
    *,
    session_id: str | None = None,
    session_name: str | None = None,
    extra_sinks: Sequence = (),
    callbacks: Sequence = (),
    wait_for_lock: bool = False,
) -> TrainingOutcome:
    """Train and register one version, as the only trainer of its session and run folder (see db/locks.py): a
    second trainer fails with TrainingBusyError naming the holder, or waits (`wait_for_lock`). Bad input is rejected
    before any session or folder is created. A folder whose adapter is a registered version's is never trained into
    again (AdapterRegisteredError), and a session gets at most one version."""
    from rxt5_assets.training.progress import FanOutSink
    from rxt5_assets.training.trainer import ADAPTER_DIRNAME, train

    if not is_main_process():  # a DDP replica: train its shard, leave the database and the files to rank 0
        return TrainingOutcome(None, None, None, train(config, callbacks=callbacks))
    validate_training_input(config)
    adapter_dir = Path(config.output_dir) / ADAPTER_DIRNAME
    with TrainingLock(database.url, config.output_dir, wait=wait_for_lock) as lock:
        lock.acquire_folder()
        with database.connect() as conn:
            stale = mark_stale_sessions(conn)
            registered = version_for_adapter(conn, str(adapter_dir))
        if stale:
            log.warning("marked %d training session(s) whose trainer is gone as interrupted: %s", len(stale),
                        ", ".join(stale))
        if registered is not None:
            raise AdapterRegisteredError(
                f"{adapter_dir} is the adapter of registered version {registered['version']}; a registered adapter "
                "is never written again: train into a new --output-dir")
        session_id = _session_for(database, config, session_id, session_name, lock)
        try:
            with PostgresProgressSink(database.url, session_id) as progress_sink:
                result = train(config, callbacks=callbacks, progress=FanOutSink(progress_sink, *extra_sinks))
        except KeyboardInterrupt as exc:
            _record_end(database, session_id, "interrupted",
                        "interrupted; rerun with --resume to continue from the last checkpoint", exc)
            raise
        except BaseException as exc:
            if type(exc).__name__ == "DagsterExecutionInterruptedError":  # Dagster's SIGINT (terminate, parent gone)
                _record_end(database, session_id, "interrupted",
                            "interrupted; re-materialize lora_adapter to continue from the last checkpoint", exc)
            else:
                _record_end(database, session_id, "failed", f"{type(exc).__name__}: {redact(str(exc))}", exc)
            raise

        metrics = training_metrics(result)
        version = new_version_name()
        with database.connect() as conn:
            previous = (get_session(conn, session_id) or {}).get("stats", {}).get("training", {})
            resumes = previous.get("resumes", []) + ([result.resumed_from_step] if result.resumed_from_step else [])
            version_id = register_version(
                conn, version=version, base_model=result.base_model, training_session_id=session_id,
                adapter_path=str(result.adapter_dir),
                hyperparameters={**result.hyperparameters, "base_model_path": result.base_model_path,
                                 "base_fingerprint": result.base_fingerprint, "precision": result.precision,
                                 "device": result.device, "trainable_params": result.trainable_params,
                                 "total_params": result.total_params},
                performance_metrics=metrics,
            )
            version = conn.execute("select version from t5_model_versions where id = %s",
                                   (version_id,)).fetchone()[0]
            update_session(conn, session_id, status="completed", stats={"training": {
                **previous, "resumes": resumes, "model_version_id": version_id, "version": version,
                "language_mix": result.language_mix, **metrics}})
            # a run completed after an interruption (or a stale mark) no longer carries that error
            conn.execute("update t5_training_sessions set error = null where id = %s", (session_id,))
    return TrainingOutcome(session_id, version_id, version, result)


def training_metrics(result) -> dict:
    """What a t5_model_versions row and the session's stats record of a TrainResult."""
    return {"train_loss": result.train_loss, "mean_train_loss": result.mean_train_loss,
            "train_loss_last_epoch": result.train_loss_last_epoch, "eval_loss": result.eval_loss,
            "eval_loss_by_language": result.eval_loss_by_language, "eval_loss_by_task": result.eval_loss_by_task,
            "base_eval_loss": result.base_eval_loss, "base_eval_loss_by_language": result.base_eval_loss_by_language,
            "base_eval_loss_by_task": result.base_eval_loss_by_task,
            "relative_improvement": result.relative_improvement,
            "relative_improvement_by_language": result.relative_improvement_by_language,
            "tokens_per_second": round(result.tokens_per_second, 1), "train_seconds": round(result.train_seconds, 1),
            "global_step": result.global_step, "world_size": result.world_size}


def _fmt_loss(v) -> str:
    return "—" if v is None else f"{v:.4f}"


def run_training_command(args: argparse.Namespace) -> int:
    """`rxt5 train`: the seed's standalone training script, recorded in the database like the asset.

    Also runs as several processes (`torchrun --nproc_per_node N -m rxt5_assets.cli train ...`): see the module doc."""
    from rxt5_assets.training.cli import config_from_args
    from rxt5_assets.training.distributed import destroy_process_group
    from rxt5_assets.training.progress import LoggingSink

    main = is_main_process()
    logging.basicConfig(level=logging.INFO if main else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    database = Database(home=args.home)
    if main:
        database.migrate()
    config = config_from_args(args, models_dir=database.home / "models")
    try:
        outcome = train_and_register(database, config, extra_sinks=[LoggingSink()],
                                     wait_for_lock=getattr(args, "wait_for_lock", False))
    finally:
        destroy_process_group()
    if not main:
        return 0
    result = outcome.result
    print(f"adapter:  {result.adapter_dir}")
    print(f"version:  {outcome.version} (inactive; id {outcome.model_version_id})")
    print(f"session:  {outcome.session_id}")
    print(f"loss:     eval {_fmt_loss(result.eval_loss)} (base {_fmt_loss(result.base_eval_loss)}), mean train "
          f"{_fmt_loss(result.mean_train_loss)} (last epoch {_fmt_loss(result.train_loss_last_epoch)}) after "
          f"{result.global_step} steps ({result.tokens_per_second:.0f} tokens/s, {result.precision} on "
          f"{result.device}" + (f", {result.world_size} processes" if result.world_size > 1 else "") + ")")
    return 0


def training_session_for_dataset(database: Database, data_session_id: str) -> str:
    """The session a new training on this dataset records into: the data session itself until it has trained once;
    after that a new session referring to it, so two trainings never share progress rows."""
    with database.connect() as conn:
        session = get_session(conn, data_session_id)
        if session is None:
            raise LookupError(f"training session {data_session_id} is not in t5_training_sessions")
        if "model_version_id" not in session["stats"].get("training", {}):
            return data_session_id
        return create_session(conn, session["name"], session["languages"],
                              {**session["config"], "dataset_session_id": data_session_id}, status="training")


def unfinished_run(database: Database, runs_dir: Path, dataset_session_id: str) -> tuple[Path, str] | None:
    """(folder, session id) of a run on this dataset that holds checkpoints but no final adapter: a run that was
    killed and can resume.

    Runs on another dataset are left alone: resuming their checkpoints on new data would mix two datasets.
    """
    candidates = []
    for run in runs_dir.glob("*"):
        marker = run / SESSION_FILE
        if not (run.is_dir() and marker.exists() and any(run.glob("checkpoint-*"))):
            continue
        if (run / "adapter" / "README.md").exists():  # the model card is written last
            continue
        session_id = json.loads(marker.read_text())["session_id"]
        with database.connect() as conn:
            session = get_session(conn, session_id)
        if session and dataset_session_id in (session_id, session["config"].get("dataset_session_id")):
            candidates.append((run, session_id))
    return max(candidates, key=lambda candidate: candidate[0].stat().st_mtime) if candidates else None
