"""The sensor that retrains when new code lands in code_chunks (the design card's continuous learning).

Cursor: the newest code_chunks id the last requested retrain covers (an integer). A tick counts the eligible chunks
above it per language (an index range scan from the cursor, see `data.new_chunks`); at the threshold it requests
`retrain_job` with a run_key tied to the id range, so one batch never triggers twice, and tags the run with the id the
data stage must stop at — chunks that land after the tick belong to the next run. While a retrain is queued or running
the tick skips without moving the cursor.
"""

from __future__ import annotations

from typing import Optional

from dagster import (
    ConfigurableResource, DagsterRunStatus, DefaultSensorStatus, RunRequest, RunsFilter, SensorEvaluationContext,
    SensorResult, SkipReason, sensor,
)
from pydantic import Field

from rxt5_assets.data.chunks import ChunkSelection
from rxt5_assets.data.new_chunks import (  # noqa: F401  (MAX_CHUNK_ID_TAG re-exported for tests and users)
    MAX_CHUNK_ID_TAG, RetrainThreshold, count_new_chunks, last_trained_chunk_id,
)
from rxt5_assets.defs.evaluation_assets import retrain_job
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource

TRIGGER_TAG = "rxt5/trigger"
IN_PROGRESS = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
               DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


class RetrainSensorResource(ConfigurableResource):
    """When the sensor retrains. Set from Dagit's launchpad, dagster.yaml-free: RXT5_* env vars via EnvVar."""

    min_new_chunks: int = Field(default=200, description="retrain once this many new eligible chunks have landed "
                                                         "(all languages together)")
    min_new_chunks_per_language: dict[str, int] = Field(
        default={}, description="or once one language reaches its own count, e.g. {'elixir': 50}")

    def threshold(self) -> RetrainThreshold:
        return RetrainThreshold(self.min_new_chunks, dict(self.min_new_chunks_per_language))


def _retrain_in_progress(context: SensorEvaluationContext) -> Optional[str]:
    records = context.instance.get_run_records(RunsFilter(job_name=retrain_job.name, statuses=IN_PROGRESS), limit=1)
    return records[0].dagster_run.run_id if records else None


@sensor(job=retrain_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Retrains (data → base → LoRA → evaluation → gated promotion) when enough new eligible chunks "
                    "have landed in code_chunks since the last retrain; one retrain at a time.")
def new_code_chunks_sensor(context: SensorEvaluationContext, database: DatabaseResource,
                           data_prep: DataPreparationResource, retrain_sensor: RetrainSensorResource):
    selection = ChunkSelection(tuple(data_prep.languages), data_prep.min_length, data_prep.exclude_path_pattern)
    with database.database().connect() as conn:
        # first tick of a daemon: start after what training already saw, not at 0
        cursor = int(context.cursor) if context.cursor else last_trained_chunk_id(conn)
        new = count_new_chunks(conn, cursor, selection)
    threshold = retrain_sensor.threshold()
    reasons = threshold.reached(new)
    if not reasons:
        return SensorResult(skip_reason=SkipReason(threshold.describe_shortfall(new)), cursor=str(cursor))
    running = _retrain_in_progress(context)
    if running:
        # the cursor stays: these chunks go to the next run, once this one is done
        return SensorResult(skip_reason=SkipReason(
            f"{new.total} new chunks wait: retrain run {running} is queued or running"), cursor=str(cursor))
    context.log.info(f"retraining: {'; '.join(reasons)} (ids {cursor + 1}..{new.max_id})")
    return SensorResult(
        run_requests=[RunRequest(run_key=f"chunks-{cursor + 1}-{new.max_id}",
                                 tags={MAX_CHUNK_ID_TAG: str(new.max_id), TRIGGER_TAG: "new_code_chunks_sensor"})],
        cursor=str(new.max_id),
    )


SENSORS = [new_code_chunks_sensor]
