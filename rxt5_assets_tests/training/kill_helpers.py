"""Processes the kill tests run: a trainer that announces its first step and then trains slowly until it is killed,
and a 'run process' that starts such a trainer as a multiprocessing (spawn) child, as Dagster's multiprocess executor
does, so a test can SIGKILL the parent and watch what the child does."""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from pathlib import Path


def _slow_callback(ready_file: Path):
    from transformers import TrainerCallback

    class Slow(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if not ready_file.exists():
                ready_file.write_text(str(state.global_step))
            time.sleep(0.2)  # keeps the run alive until the test kills something; never asserted on

    return Slow()


def train_until_killed(url: str, config_kwargs: dict, ready_file: str, watch_parent: bool) -> None:
    """Train (demo base, effectively endless) into config_kwargs['output_dir'], recording in the real database."""
    from rxt5_assets.db import Database
    from rxt5_assets.pipeline import train_and_register
    from rxt5_assets.training.config import TrainConfig
    from rxt5_assets.worker import stop_with_parent

    import torch

    torch.set_num_threads(1)
    if watch_parent:
        stop_with_parent(grace_seconds=20)
    ready = Path(ready_file)
    train_and_register(Database(url), TrainConfig(**config_kwargs), callbacks=[_slow_callback(ready)])


def run_process(url: str, config_kwargs: dict, ready_file: str) -> None:
    """What a Dagster run process does with a step: start it in a spawned child and wait for it."""
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=train_until_killed, args=(url, config_kwargs, ready_file, True))
    child.start()
    Path(ready_file + ".child").write_text(str(child.pid))
    child.join()


if __name__ == "__main__":  # python -m rxt5_assets_tests.training.kill_helpers parent|trainer URL CONFIG_JSON READY
    role, url, config_json, ready_file = sys.argv[1:5]
    kwargs = json.loads(config_json)
    if role == "parent":
        run_process(url, kwargs, ready_file)
    else:
        train_until_killed(url, kwargs, ready_file, False)
