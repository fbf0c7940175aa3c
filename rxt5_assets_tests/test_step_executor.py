"""The jobs' executor: steps in the run's process by default, a process per step when run config says so."""

from __future__ import annotations

import os

import pytest
from dagster import (AssetKey, DagsterInstance, Definitions, MaterializeResult, asset, define_asset_job,
                     execute_job, reconstructable)
from dagster._core.errors import DagsterInvalidConfigError

from rxt5_assets.definitions import defs, step_executor


@asset
def where_it_ran() -> MaterializeResult:
    return MaterializeResult(metadata={"pid": os.getpid(), "kernel_parent": os.getppid()})


def where_it_ran_job():
    """Module level, so that a step process can rebuild the job (what multiprocess execution needs)."""
    return Definitions(assets=[where_it_ran], jobs=[define_asset_job("where_it_ran_job")],
                       executor=step_executor).resolve_job_def("where_it_ran_job")


def _run(instance: DagsterInstance, run_config: dict) -> dict:
    result = execute_job(reconstructable(where_it_ran_job), instance=instance, run_config=run_config)
    assert result.success
    event = instance.get_latest_materialization_event(AssetKey("where_it_ran"))
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def test_every_job_uses_rxt5s_executor_with_in_process_by_default():
    assert defs.executor is step_executor
    for job in (defs.resolve_job_def("retrain_job"), defs.resolve_implicit_global_asset_job_def()):
        assert job.executor_def.name == "rxt5_step_executor"
    # the launchpad's default: nothing in run config means steps in the run's process
    config_schema = step_executor.config_schema.as_field().config_type.fields
    assert config_schema["steps"].default_value == "in_process"


def test_steps_run_where_run_config_says(tmp_path):
    with DagsterInstance.from_config(str(_dagster_home(tmp_path))) as instance:
        default = _run(instance, {})
        assert default["pid"] == os.getpid()  # in the run's process (here: this test's)
        explicit = _run(instance, {"execution": {"config": {"steps": "in_process"}}})
        assert explicit["pid"] == os.getpid()
        spawned = _run(instance, {"execution": {"config": {"steps": "spawn", "max_concurrent": 1}}})
        assert spawned["pid"] != os.getpid() and spawned["kernel_parent"] == os.getpid()
        forked = _run(instance, {"execution": {"config": {"steps": "forkserver"}}})
        assert forked["pid"] != os.getpid() and forked["kernel_parent"] != os.getpid()  # the fork server's child
        run = instance.get_runs(limit=1)[0]
        assert run.run_config["execution"]["config"]["steps"] == "forkserver"  # what Dagit shows for the run
    with pytest.raises(DagsterInvalidConfigError, match="fork"):
        execute_job(reconstructable(where_it_ran_job), instance=DagsterInstance.ephemeral(),
                    run_config={"execution": {"config": {"steps": "fork"}}})


def _dagster_home(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home
