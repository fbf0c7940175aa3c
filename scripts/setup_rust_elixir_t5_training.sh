#!/usr/bin/env bash
# The seed's one-shot setup: install rxt5, create the schema on the embedded PostgreSQL (or RXT5_DATABASE_URL), ingest the
# shipped demo corpus, and materialize the whole asset graph once. Afterwards: `.venv/bin/dagster dev` opens Dagit on it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
.venv/bin/rxt5 db migrate
.venv/bin/rxt5 ingest --demo
# dagster.yaml in this folder puts Dagster's runs and events in the same PostgreSQL, so this run shows up in Dagit.
.venv/bin/dagster asset materialize --select '*' -m rxt5_assets.definitions
.venv/bin/rxt5 db status
