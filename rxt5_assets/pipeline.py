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
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rxt5_assets.db import Database
from rxt5_assets.db.model_versions import new_version_name, register_version
from rxt5_assets.db.progress import PostgresProgressSink
from rxt5_assets.db.sessions import create_session, get_session, update_session
from rxt5_assets.training.distributed import is_main_process

SESSION_FILE = "rxt5_session.json"
log = logging.getLogger(__name__)


@dataclass
class TrainingOutcome:
    session_id: str | None  # None on the ranks other than 0 of a multi-process run (they record nothing)
    model_version_id: str | None
    version: str | None
    result: object  # training.trainer.TrainResult


def _session_for(database: Database, config, session_id: str | None, session_name: str | None) -> str:
    """The session this run records into: the given one, the one a resumed output_dir remembers, or a new one."""
    marker = Path(config.output_dir) / SESSION_FILE
    with database.connect() as conn:
        if session_id is None and config.resume and marker.exists():
            remembered = json.loads(marker.read_text())["session_id"]
            remembered_session = get_session(conn, remembered)
            if remembered_session is not None and remembered_session["status"] != "completed":  # never reopened
                session_id = remembered
        if session_id is None:
            session_id = create_session(
                conn, session_name or Path(config.output_dir).name, ["rust", "elixir"],
                {"train_file": str(config.train_file), "eval_file": str(config.eval_file or ""),
                 **config.hyperparameters()},
                status="training",
            )
        else:
            previous = get_session(conn, session_id)
            training = (previous or {}).get("stats", {}).get("training", {})
            attempts = training.get("attempts", 0) + 1
            update_session(conn, session_id, status="training",
                           stats={"training": {**training, "attempts": attempts,
                                               "hyperparameters": config.hyperparameters()}})
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"session_id": session_id}))
    return session_id


def train_and_register(
    database: Database,
    config,
    *,
    session_id: str | None = None,
    session_name: str | None = None,
    extra_sinks: Sequence = (),
    callbacks: Sequence = (),
) -> TrainingOutcome:
    from rxt5_assets.training.progress import FanOutSink
    from rxt5_assets.training.trainer import train

    if not is_main_process():  # a DDP replica: train its shard, leave the database and the files to rank 0
        return TrainingOutcome(None, None, None, train(config, callbacks=callbacks))
    session_id = _session_for(database, config, session_id, session_name)
    with PostgresProgressSink(database.url, session_id) as progress_sink:
        try:
            result = train(config, callbacks=callbacks, progress=FanOutSink(progress_sink, *extra_sinks))
        except KeyboardInterrupt:
            with database.connect() as conn:
                update_session(conn, session_id, status="interrupted",
                               error="interrupted; rerun with --resume to continue from the last checkpoint")
            raise
        except BaseException as exc:
            with database.connect() as conn:
                update_session(conn, session_id, status="failed", error=f"{type(exc).__name__}: {exc}")
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
        update_session(conn, session_id, status="completed", stats={"training": {
            **previous, "resumes": resumes, "model_version_id": version_id, "version": version,
            "language_mix": result.language_mix, **metrics}})
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
        outcome = train_and_register(database, config, extra_sinks=[LoggingSink()])
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
