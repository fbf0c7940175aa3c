"""The Definitions object that workspace.yaml loads."""

from dagster import Definitions, Enum, EnumValue, Field, multi_or_in_process_executor

from rxt5_assets.defs.concurrency import dead_run_reaper_sensor
from rxt5_assets.defs.data_assets import DATA_ASSETS, DATA_CHECKS
from rxt5_assets.defs.evaluation_assets import EVALUATION_ASSETS, EVALUATION_CHECKS, retrain_job
from rxt5_assets.defs.evaluation_resources import EvaluationResource
from rxt5_assets.defs.model_assets import MODEL_ASSETS
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, TrainingResource, WorkspaceResource
from rxt5_assets.defs.sensors import SENSORS, RetrainSensorResource


STEP_PROCESSES = ("in_process", "forkserver", "spawn")
FORKSERVER_PRELOAD = ["rxt5_assets.definitions"]


def _executor_config(config: dict) -> dict:
    """rxt5's executor config (`execution: config: {steps: ...}`) as Dagster's multi_or_in_process_executor's."""
    steps = config.get("steps", "in_process")
    if steps == "in_process":
        return {"in_process": {}}
    multiprocess: dict = {}
    if config.get("max_concurrent") is not None:
        multiprocess["max_concurrent"] = config["max_concurrent"]
    if steps == "forkserver":
        multiprocess["start_method"] = {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}}
    return {"multiprocess": multiprocess}  # spawn: Dagster's own default start method


# The executor of every job, chosen per run in run config (Dagit's launchpad, `dagster asset materialize -c`, a
# sensor's RunRequest), never from the environment at import time:
#
#   execution: {config: {steps: in_process}}   # the default: every step in the run's process
#   execution: {config: {steps: forkserver}}   # a process per step, forked from a server preloading the Definitions
#   execution: {config: {steps: spawn, max_concurrent: 2}}   # Dagster's default: a fresh interpreter per step
#
# in_process is the default because it was measured fastest (bench/bench_step_startup.py: the Definitions are
# imported once per run, not once per step; 4-9x less overhead than the alternatives on the quick start's data
# steps; the README has the table), and a killed run takes its steps with it.
step_executor = multi_or_in_process_executor.configured(
    _executor_config,
    name="rxt5_step_executor",
    config_schema={
        "steps": Field(
            Enum("Rxt5StepProcesses", [EnumValue(kind) for kind in STEP_PROCESSES]), default_value="in_process",
            description="in_process: every step in the run's process (measured fastest; the default). forkserver: a "
                        "process per step, forked from a server that imported the Definitions once. spawn: a fresh "
                        "interpreter per step (Dagster's default)."),
        "max_concurrent": Field(int, is_required=False,
                                description="forkserver/spawn: at most this many step processes at once (default: "
                                            "the CPU count)"),
    },
    description="rxt5's executor: steps in the run's process unless run config says `steps: forkserver` or `spawn`.",
)


defs = Definitions(
    executor=step_executor,
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
