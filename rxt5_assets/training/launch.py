"""The training step on several processes (one per GPU; gloo on CPU) from inside a Dagster step or any library call.

`train_distributed` writes the TrainConfig as JSON, starts `torch.distributed.run` (what `torchrun` and `accelerate
launch --multi_gpu` start) on this module, and waits: every rank runs `train_and_register` (DDP), rank 0 alone records
the session, progress and version in PostgreSQL and pickles its TrainingOutcome for the caller. The caller's process
never initialises a process group, so a Dagster step stays an ordinary process.

    python -m torch.distributed.run --standalone --nproc_per_node N -m rxt5_assets.training.launch CONFIG SESSION OUT
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Callable

from rxt5_assets.errors import UserFacingError


class DistributedTrainingError(UserFacingError, RuntimeError):
    """The launcher or one of its ranks failed; the message ends with their last output lines."""


def train_distributed(database, config, *, session_id: str | None, processes: int,
                      log: Callable[[str], None] = print):
    """TrainingOutcome of `config` trained by `processes` DDP ranks, recorded once (rank 0) in `database`."""
    if processes < 2:
        raise ValueError("train_distributed needs at least 2 processes (1 process: call train_and_register)")
    output_dir = Path(config.output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    config_file = output_dir.parent / f".{output_dir.name}.launch.json"
    outcome_file = output_dir.parent / f".{output_dir.name}.outcome.pickle"
    config_file.write_text(json.dumps(config.to_dict()))
    outcome_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "-m", "rxt5_assets.training.launch", str(config_file), session_id or "", str(outcome_file)]
    # the ranks use exactly this database (the embedded server is shared by every process that asks for it)
    env = {**os.environ, "RXT5_DATABASE_URL": database.url, "TOKENIZERS_PARALLELISM": "false"}
    log(f"training on {processes} processes: {' '.join(command[2:7])} …")
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            log(line.rstrip())
        returncode = proc.wait()  # stdout closed: the ranks have exited
    config_file.unlink(missing_ok=True)
    if returncode != 0 or not outcome_file.is_file():
        raise DistributedTrainingError(f"distributed training on {processes} processes failed (exit {returncode}); "
                                       "last output:\n" + "\n".join(tail))
    with outcome_file.open("rb") as f:
        outcome = pickle.load(f)
    outcome_file.unlink()
    return outcome


def main(argv: list[str] | None = None) -> int:
    from rxt5_assets.db import Database
    from rxt5_assets.pipeline import train_and_register
    from rxt5_assets.training.config import TrainConfig
    from rxt5_assets.training.distributed import destroy_process_group, is_main_process
    from rxt5_assets.training.progress import LoggingSink

    config_file, session_id, outcome_file = (argv or sys.argv[1:])[:3]
    import logging

    logging.basicConfig(level=logging.INFO if is_main_process() else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    config = TrainConfig(**json.loads(Path(config_file).read_text()))
    try:
        outcome = train_and_register(Database(), config, session_id=session_id or None, extra_sinks=[LoggingSink()])
    finally:
        destroy_process_group()
    if is_main_process():
        tmp = Path(outcome_file).with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(outcome, f)
        tmp.replace(outcome_file)  # the caller sees a whole outcome or none
    return 0


if __name__ == "__main__":
    sys.exit(main())
