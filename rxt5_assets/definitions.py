"""The Definitions object that workspace.yaml loads."""

from dagster import Definitions

from rxt5_assets.defs.concurrency import dead_run_reaper_sensor
from rxt5_assets.defs.data_assets import DATA_ASSETS, DATA_CHECKS
from rxt5_assets.defs.evaluation_assets import EVALUATION_ASSETS, EVALUATION_CHECKS, retrain_job
from rxt5_assets.defs.evaluation_resources import EvaluationResource
from rxt5_assets.defs.model_assets import MODEL_ASSETS
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, TrainingResource, WorkspaceResource
from rxt5_assets.defs.sensors import SENSORS, RetrainSensorResource

defs = Definitions(
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
