"""The `rxt5` command line, including the embedded server shared by several processes and kept across restarts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rxt5_assets.cli import main


def rxt5(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RXT5_DATABASE_URL", "RXT5_HOME")}
    return subprocess.run([sys.executable, "-m", "rxt5_assets.cli", "--home", str(home), *args],
                          capture_output=True, text=True, env=env, check=check, timeout=240)


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("db", "ingest", "train", "RXT5_DATABASE_URL"):
        assert command in out


def test_train_help_lists_the_seed_flags(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ("--train-file", "--eval-file", "--output-dir", "--epochs", "--learning-rate",
                 "--cross-language-learning", "--rust-weight", "--elixir-weight", "--train-batch-size",
                 "--gradient-accumulation", "--base-model", "--no-lora", "--resume"):
        assert flag in out


def test_embedded_server_is_shared_by_processes_and_keeps_data_across_restarts(tmp_path: Path):
    home = tmp_path / "home"
    checkout = tmp_path / "svc"
    (checkout / "src").mkdir(parents=True)
    (checkout / "src" / "lib.rs").write_text("/// Doubles a number, saturating at the maximum.\n"
                                           "pub fn double(x: u32) -> u32 {\n    x.saturating_mul(2)\n}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RXT5_DATABASE_URL", "RXT5_HOME")}
    command = [sys.executable, "-m", "rxt5_assets.cli", "--home", str(home)]
    # three processes start the same embedded server and migrate it at once
    racers = [subprocess.Popen([*command, "db", "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(3)]
    outputs = [racer.communicate(timeout=240) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), outputs
    assert sum("applied migration" in out for out, _ in outputs) == 1

    ingested = rxt5("ingest", str(checkout), "--repo", "svc", "--json", home=home)
    assert json.loads(ingested.stdout)["chunks_new"] == 1
    # every process has exited, so the server stopped; the next one restarts it on the same data
    status = json.loads(rxt5("db", "status", "--json", home=home).stdout)
    assert status["server"].startswith("embedded")
    assert status["row_counts"]["code_chunks"] == 1 and status["schema_version"] == status["schema_latest"]
    url = rxt5("db", "url", home=home).stdout.strip()
    assert url.startswith("postgresql://") and str(home) in url
    rxt5("db", "stop", home=home)


def test_ingest_without_path_or_demo_is_a_usage_error(tmp_path: Path):
    result = rxt5("ingest", home=tmp_path / "h", check=False)
    assert result.returncode == 2 and "--demo" in result.stderr


def test_ingest_missing_path_is_a_clear_error(tmp_path: Path):
    result = rxt5("ingest", str(tmp_path / "missing"), home=tmp_path / "h", check=False)
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_db_psql_runs_the_seeds_query(tmp_path: Path):
    home = tmp_path / "home"
    rxt5("db", "migrate", home=home)
    result = rxt5("db", "psql", "-c",
                  "SELECT version, performance_metrics, evaluation_results FROM t5_model_versions WHERE is_active = true;",
                  home=home)
    assert "(0 rows)" in result.stdout
    assert not (home / "pgdata" / "postmaster.pid").exists()  # psql's session was the last user: the server stopped
    # a user that died without leaving (kill -9) does not keep the server up for ever
    rxt5("db", "url", home=home)  # keeps the server running on purpose
    users = home / "pgdata" / ".handle_pids.json"
    users.write_text(json.dumps([*json.loads(users.read_text()), 2**22 + 12345]))  # no such process
    rxt5("db", "stop", home=home)
    assert not (home / "pgdata" / "postmaster.pid").exists()
