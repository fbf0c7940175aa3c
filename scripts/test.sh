#!/usr/bin/env bash
# Install rxt5 with its test extras into ./.venv and run the whole test suite against a real, embedded PostgreSQL.
# Extra arguments go to pytest (e.g. `scripts/test.sh -k ingest`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
# The Elixir toolchain checks (rxt5_assets_tests/evaluation) need `elixir`; as root, install it when missing,
# otherwise (or when the install fails) those tests skip with the reason.
if ! command -v elixir >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -q && apt-get install -y -q elixir) || echo "elixir could not be installed: its tests will skip" >&2
fi
# pytest exits 5 when it collected no test: with `set -e` that fails the run, as it should.
exec .venv/bin/python -m pytest "$@"
