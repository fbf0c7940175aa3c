"""Dagster run/event/schedule storage in rxt5's PostgreSQL, embedded by default.

dagster.yaml names this class under `storage: custom:`. It is dagster-postgres' own storage; the only difference is
where the URL comes from: resolved when the instance loads (RXT5_DAGSTER_DATABASE_URL, else RXT5_DATABASE_URL, else a
`dagster` database on the embedded server, started on demand), so `dagster dev` needs no other service running.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster import Field, StringSource
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._serdes import ConfigurableClassData
from dagster_postgres.storage import DagsterPostgresStorage

from rxt5_assets.db.connection import dagster_storage_url, rxt5_home


class Rxt5DagsterStorage(DagsterPostgresStorage):
    @classmethod
    def config_type(cls):
        return {"home": Field(StringSource, is_required=False, description="RXT5_HOME override for the embedded server")}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(postgres_url=dagster_storage_url(config_value.get("home")), inst_data=inst_data)

    def _storage_data(self, class_name: str) -> ConfigurableClassData:
        # sub-storages get the resolved URL, not our (URL-less) config
        return ConfigurableClassData("dagster_postgres", class_name, yaml.dump({"postgres_url": self.postgres_url}))

    @property
    def event_storage_data(self):
        return self._storage_data("PostgresEventLogStorage")

    @property
    def run_storage_data(self):
        return self._storage_data("PostgresRunStorage")

    @property
    def schedule_storage_data(self):
        return self._storage_data("PostgresScheduleStorage")


class Rxt5ComputeLogManager(LocalComputeLogManager):
    """Dagster's local compute-log manager with its folder under $RXT5_HOME (`dagster/compute_logs`) by default.

    Without one, `dagster dev` keeps each step's stdout/stderr in a temporary instance folder it deletes at exit, and
    Dagit later shows "No log file available". The folder is resolved (absolute) when the instance loads, so the
    webserver, the daemon and every run worker agree on it wherever they were started.
    """

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False, description="default: $RXT5_HOME/dagster/compute_logs"),
                "home": Field(StringSource, is_required=False, description="RXT5_HOME override")}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        base_dir = config_value.get("base_dir") or str(compute_logs_dir(config_value.get("home")))
        return cls(base_dir=base_dir, inst_data=inst_data)


def compute_logs_dir(home: str | None = None) -> Path:
    return (rxt5_home(home) / "dagster" / "compute_logs").resolve()
