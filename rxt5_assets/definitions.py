"""The Definitions object that workspace.yaml loads."""

import os

from dagster import Definitions, in_process_executor, multiprocess_executor

from rxt5_assets.defs.concurrency import dead_run_reaper_sensor
from rxt5_assets.defs.data_assets import DATA_ASSETS, DATA_CHECKS
from rxt5_assets.defs.evaluation_assets import EVALUATION_ASSETS, EVALUATION_CHECKS, retrain_job
from rxt5_assets.defs.evaluation_resources import EvaluationResource
from rxt5_assets.defs.model_assets import MODEL_ASSETS
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, TrainingResource, WorkspaceResource
from rxt5_assets.defs.sensors import SENSORS, RetrainSensorResource


def step_executor(kind: str):
    """The executor of every job, by RXT5_STEP_EXECUTOR. `in_process` (default): every step in the run's process —
    the Definitions are imported once per run, not once per step (bench/bench_step_startup.py: 4-9x less overhead
    than the alternatives on the quick start's data steps; the README has the table), and a killed run takes its steps
    with it. `forkserver`: each step in its own process, forked from a server that imported the Definitions once;
    `spawn`: Dagster's own default, a fresh interpreter per step."""
    if kind == "forkserver":
        return multiprocess_executor.configured(
            {"start_method": {"forkserver": {"preload_modules": ["rxt5_assets.definitions"]}}}, name="rxt5_forkserver")
    if kind == "spawn":
        return multiprocess_executor
    if kind == "in_process":
        return in_process_executor
    raise ValueError(f"RXT5_STEP_EXECUTOR={kind!r}: choose forkserver, spawn or in_process")


defs = Definitions(
    executor=step_executor(os.environ.get("RXT5_STEP_EXECUTOR", "in_process")),
    assets=[*DATA_ASSETS, *MODEL_ASSETS, *EVALUATION_ASSETS],
    asset_checks=[*DATA_CHECKS, *EVALUATION_CHECKS],
    jobs=[retrain_job],
    sensors=[*SENSORS, dead_run_reaper_sensor()],
    resources={
        "database": DatabaseResource(),
        "data_prep": DataPreparationResource(),
        "workspace": WorkspaceResource(),
        "training": TrainingResource(),
        "evaluation": EvaluationResource(),
        "retrain_sensor": RetrainSensorResource(),
    },
)
