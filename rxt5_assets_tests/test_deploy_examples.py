"""The checked-in deployment examples stay true to the code: the Helm values load this code location with a shared
RXT5_HOME and an external database, and the Celery instance config loads as a Dagster instance with retrains limited
to one at a time."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from dagster import DagsterInstance

from rxt5_assets.db import Database
from rxt5_assets.defs.evaluation_assets import RETRAIN_TAG, retrain_job

PROJECT = Path(__file__).resolve().parents[1]


def _retrain_limits(limits: list[dict]) -> list[int]:
    return [limit["limit"] for limit in limits if limit["key"] == RETRAIN_TAG]


def test_every_retrain_run_carries_the_tag_the_coordinators_limit():
    assert retrain_job.tags[RETRAIN_TAG] == "true"
    instance_config = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
    # dagster 1.13 keeps the queue's limits under `concurrency: runs:` once pools are configured there too
    assert _retrain_limits(instance_config["concurrency"]["runs"]["tag_concurrency_limits"]) == [1]


def test_helm_values_run_this_code_location_against_an_external_database_with_a_shared_home():
    values = yaml.safe_load((PROJECT / "deploy" / "kubernetes" / "values.yaml").read_text())
    module = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    assert values["postgresql"]["enabled"] is False
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module]
    home = next(e["value"] for e in deployment["env"] if e["name"] == "RXT5_HOME")
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert f"RXT5_HOME={home}" in launcher["envVars"]
    # the code-location pod and every run pod mount the same claim at RXT5_HOME
    for spec in (deployment, launcher):
        (mount,) = spec["volumeMounts"]
        (volume,) = spec["volumes"]
        assert mount["mountPath"] == home and volume["persistentVolumeClaim"]["claimName"] == "rxt5-home"
    assert deployment["envSecrets"] == launcher["envSecrets"]  # RXT5_DATABASE_URL in both
    coordinator = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert _retrain_limits(coordinator["tagConcurrencyLimits"]) == [1]
    dockerfile = (PROJECT / "deploy" / "kubernetes" / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (PROJECT / source).exists(), source


def test_celery_instance_config_loads_with_logs_under_rxt5_home(database: Database, tmp_path: Path, monkeypatch):
    from rxt5_assets.db.dagster_storage import Rxt5ComputeLogManager

    monkeypatch.setenv("RXT5_HOME", str(tmp_path / "home"))
    with DagsterInstance.from_config(str(PROJECT / "deploy" / "celery")) as instance:
        assert isinstance(instance.compute_log_manager, Rxt5ComputeLogManager)
        limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
        assert _retrain_limits(limits) == [1]
