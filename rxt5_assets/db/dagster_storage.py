"""Dagster run/event/schedule storage in rxt5's PostgreSQL, embedded by default.

dagster.yaml names this class under `storage: custom:`. It is dagster-postgres' own storage; the only difference is
where the URL comes from: resolved when the instance loads (RXT5_DAGSTER_DATABASE_URL, else RXT5_DATABASE_URL, else a
`dagster` database on the embedded server, started on demand), so `dagster dev` needs no other service running.
"""

from __future__ import annotations

import yaml
from dagster import Field, StringSource
from dagster._serdes import ConfigurableClassData
from dagster_postgres.storage import DagsterPostgresStorage

from rxt5_assets.db.connection import dagster_storage_url


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
