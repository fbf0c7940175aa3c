"""The Dagster layer: assets, checks, sensors, jobs and resources — thin calls into the library."""
