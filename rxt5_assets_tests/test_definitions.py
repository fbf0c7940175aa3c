"""The Dagster layer in process: Definitions load, and the data graph materializes against the real database."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from rxt5_assets.db import Database
from rxt5_assets.defs.data_assets import DATA_ASSETS, DATA_CHECKS
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, WorkspaceResource
from rxt5_assets.definitions import defs
from rxt5_assets.ingest import ingest_demo

DATA_GRAPH = ["code_chunks", "preprocessed_chunks", "scored_examples", "cross_language_pairs", "training_dataset"]


def test_definitions_load_with_the_whole_data_graph():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert set(DATA_GRAPH) <= keys
    for upstream, downstream in zip(DATA_GRAPH, DATA_GRAPH[1:]):
        assert AssetKey(upstream) in graph.get(AssetKey(downstream)).parent_keys
    assert graph.get(AssetKey("code_chunks")).group_name == "data"


def resources(database: Database, home: Path, **prep) -> dict:
    return {
        "database": DatabaseResource(database_url=database.url),
        "data_prep": DataPreparationResource(**{"workers": 1, **prep}),
        "workspace": WorkspaceResource(home=str(home)),
    }


@pytest.fixture
def demo_database(database: Database) -> Database:
    ingest_demo(database, progress=False)
    return database


def test_data_graph_materializes_on_the_demo_corpus(demo_database: Database, tmp_path: Path):
    with DagsterInstance.ephemeral() as instance:
        # two workers: analysis forks from inside Dagster's in-process executor, as it does by default
        result = materialize([*DATA_ASSETS, *DATA_CHECKS], resources=resources(demo_database, tmp_path, workers=2),
                             instance=instance)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert len(checks) == len(DATA_CHECKS) and all(check.passed for check in checks)
        preprocessed = instance.get_latest_materialization_event(AssetKey("preprocessed_chunks")).asset_materialization
        assert preprocessed.metadata["workers"].value == 2
        assert preprocessed.metadata["analysis_mb_per_second"].value > 0
        scored = instance.get_latest_materialization_event(AssetKey("scored_examples")).asset_materialization
        session_id = scored.metadata["session_id"].value
    manifest = json.loads((tmp_path / "datasets" / "rust_elixir_v1" / "manifest.json").read_text())
    train = pl.read_ndjson(manifest["train_file"])
    evaluation = pl.read_ndjson(manifest["eval_file"])
    assert {"input", "target", "language", "task", "quality_score", "source_id"} <= set(train.columns)
    assert {"rust", "elixir"} <= set(train["language"]) and {"rust", "elixir"} <= set(evaluation["language"])
    assert any("->" in language for language in train["language"].unique())
    assert train["quality_score"].min() >= 0.7  # the seed's threshold; pairs take the lower of their two scores
    with demo_database.connect() as conn:
        status, stored = conn.execute(
            "select status, (select count(*) from t5_training_examples where training_session_id = s.id) "
            "from t5_training_sessions s where id = %s", (session_id,)).fetchone()
    assert status == "prepared"
    assert stored >= train.unique(subset=["input", "target"]).height


def test_insufficient_data_fails_with_the_funnel(database: Database, tmp_path: Path):
    with database.connect() as conn:
        conn.execute("insert into code_chunks (content, language, file_path, repo) values "
                     "('pub fn tiny() -> u8 { 1 }', 'rust', 'src/a.rs', 'r')")
    with DagsterInstance.ephemeral() as instance:
        result = materialize(DATA_ASSETS, resources=resources(database, tmp_path), instance=instance,
                             raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.cause.message if failure.step_failure_data.error.cause else \
        failure.step_failure_data.error.message
    assert "insufficient training data" in message and "needed at least 50" in message
    assert "too_short 1" in message


GRAPH_QUERY = """{
  assetNodes { assetKey { path } groupName description dependencyKeys { path }
               assetChecksOrError { ... on AssetChecks { checks { name blocking } } } }
  repositoriesOrError { ... on RepositoryConnection { nodes {
      name jobs { name } sensors { name defaultStatus targets { pipelineName } } } } }
}"""


def test_dagster_dev_serves_the_graph_with_storage_in_postgres(tmp_path: Path):
    """`dagster dev` from the project root, with nothing else running: dagster.yaml puts its storage in PostgreSQL."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    import psycopg

    from rxt5_assets.db.connection import embedded_server

    project = Path(__file__).resolve().parents[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("RXT5_DATABASE_URL", "DAGSTER_HOME")}
    env["RXT5_HOME"] = str(tmp_path / "home")
    dagster = Path(sys.executable).parent / "dagster"
    server = subprocess.Popen([str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port)], cwd=project, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        query = json.dumps({"query": GRAPH_QUERY}).encode()
        deadline, answer = time.monotonic() + 120, None
        while time.monotonic() < deadline and answer is None:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query,
                                                 headers={"Content-Type": "application/json"})
                answer = json.loads(urllib.request.urlopen(request, timeout=5).read())
            except OSError:
                time.sleep(1)
        assert answer is not None, server.stderr.read1().decode() if server.stderr else "no answer"
        assert "errors" not in answer, answer["errors"]
        nodes = {"/".join(node["assetKey"]["path"]): node for node in answer["data"]["assetNodes"]}
        # what Dagit draws is the code's graph: every asset, its upstream edges, group, description and checks
        graph = defs.resolve_asset_graph()
        assert set(nodes) == {key.to_user_string() for key in graph.get_all_asset_keys()}
        for key in graph.get_all_asset_keys():
            node = nodes[key.to_user_string()]
            assert {"/".join(k["path"]) for k in node["dependencyKeys"]} == \
                {k.to_user_string() for k in graph.get(key).parent_keys}, key
            assert node["groupName"] == graph.get(key).group_name and node["description"], key
        assert nodes["base_model"]["dependencyKeys"] == []  # a root, as the README draws it
        assert {"/".join(k["path"]) for k in nodes["lora_adapter"]["dependencyKeys"]} >= {"base_model",
                                                                                          "training_dataset"}
        checks = {c["name"]: c for node in nodes.values() for c in node["assetChecksOrError"].get("checks", [])}
        assert checks["candidate_not_worse_than_active"]["blocking"] is True
        assert {key.name for key in graph.asset_check_keys} == set(checks)
        (repository,) = answer["data"]["repositoriesOrError"]["nodes"]
        sensors = {s["name"]: s for s in repository["sensors"]}
        assert sensors["new_code_chunks_sensor"]["defaultStatus"] == "RUNNING"
        assert [t["pipelineName"] for t in sensors["new_code_chunks_sensor"]["targets"]] == ["retrain_job"]
        assert "retrain_job" in {job["name"] for job in repository["jobs"]}
        with psycopg.connect(embedded_server(tmp_path / "home").get_uri("dagster")) as conn:
            assert conn.execute("select to_regclass('runs') is not null").fetchone()[0]  # dagster-postgres tables
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        if (tmp_path / "home" / "pgdata").is_dir():  # the embedded server dagster dev started outlived the test
            embedded_server(tmp_path / "home").cleanup()


def test_quality_weights_are_configurable_from_dagster():
    from rxt5_assets.defs.data_assets import prepare_config

    config = prepare_config(DataPreparationResource(indicator_weights={"rust": {"tests": 3.0}}, quality_baseline=0.2))
    weights = config.example_config().weights
    assert weights.indicator_weights["rust"]["tests"] == 3.0
    assert weights.indicator_weights["rust"]["doc_comments"] == 1.0  # the other defaults stay
    assert weights.baseline == 0.2 and weights.indicator_weights["elixir"]["doc"] == 1.0


def test_compute_logs_are_kept_under_rxt5_home(database: Database, tmp_path: Path, monkeypatch):
    """dagster.yaml's compute log manager writes step stdout/stderr under $RXT5_HOME, not a temp instance folder."""
    from rxt5_assets.db.dagster_storage import Rxt5ComputeLogManager
    from rxt5_assets.defs.data_assets import code_chunks

    project = Path(__file__).resolve().parents[1]
    home = tmp_path / "home"
    monkeypatch.setenv("RXT5_HOME", str(home))
    monkeypatch.delenv("RXT5_DAGSTER_DATABASE_URL", raising=False)
    with DagsterInstance.from_config(str(project)) as instance:
        manager = instance.compute_log_manager
        assert isinstance(manager, Rxt5ComputeLogManager)
        assert Path(manager._base_dir) == (home / "dagster" / "compute_logs").resolve()
        result = materialize([code_chunks], instance=instance,
                             resources={"database": DatabaseResource(database_url=database.url),
                                        "data_prep": DataPreparationResource()})
        assert result.success
        logs = list((home / "dagster" / "compute_logs" / result.run_id).rglob("*.err"))
        assert logs, sorted(p.name for p in (home / "dagster" / "compute_logs").rglob("*"))
        # the library's own log lines (evaluation progress, ...) reach the run's event log
        assert instance.get_settings("python_logs")["managed_python_loggers"] == ["rxt5_assets"]
        assert not instance.nux_enabled  # no "Join the Dagster community" dialog over Dagit's first page


def test_importing_the_definitions_imports_neither_torch_nor_transformers():
    """Every Dagster step's subprocess imports the Definitions: a model library there costs seconds per step."""
    import subprocess
    import sys

    probe = ("import sys, rxt5_assets.definitions; "
             "print(' '.join(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def _session_row(database: Database, session_id: str) -> dict:
    with database.connect() as conn:
        status, completed_at, example_count, stored = conn.execute(
            "select status, completed_at, example_count, (select count(*) from t5_training_examples e "
            "where e.training_session_id = s.id) from t5_training_sessions s where id = %s", (session_id,)).fetchone()
    return {"status": status, "completed_at": completed_at, "example_count": example_count, "stored": stored}


def test_two_data_graph_runs_at_once_keep_their_own_sessions_and_files(demo_database: Database, tmp_path: Path):
    """Issue 9, defect 1: two runs at once shared session.json, the parquet files and train.jsonl.tmp."""
    import threading

    outcomes, errors = [], []

    def run() -> None:
        try:
            with DagsterInstance.ephemeral() as instance:
                result = materialize(DATA_ASSETS, resources=resources(demo_database, tmp_path), instance=instance)
                event = instance.get_latest_materialization_event(AssetKey("training_dataset"))
                outcomes.append((result.success, event.asset_materialization.metadata["session_id"].value))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert [success for success, _ in outcomes] == [True, True]
    sessions = {session for _, session in outcomes}
    assert len(sessions) == 2
    for session in sessions:
        row = _session_row(demo_database, session)
        assert row["status"] == "prepared" and row["stored"] == row["example_count"]
    runs = list((tmp_path / "data" / "runs").iterdir())
    assert len(runs) == 2 and all((run / "session.json").exists() for run in runs)


def test_rematerializing_training_dataset_never_reopens_a_finished_session(demo_database: Database, tmp_path: Path):
    """Issue 9, defect 3: the data session that had also trained went from completed back to prepared."""
    from rxt5_assets.db.sessions import update_session
    from rxt5_assets.defs.data_assets import training_dataset

    with DagsterInstance.ephemeral() as instance:
        assert materialize(DATA_ASSETS, resources=resources(demo_database, tmp_path), instance=instance).success
    manifest_path = tmp_path / "datasets" / "rust_elixir_v1" / "manifest.json"
    first = json.loads(manifest_path.read_text())["session_id"]
    with demo_database.connect() as conn:  # what a training on this dataset does to its session
        update_session(conn, first, status="training")
        update_session(conn, first, status="completed")
    finished = _session_row(demo_database, first)
    with DagsterInstance.ephemeral() as instance:  # the dataset alone, in a new run, from the published upstream
        assert materialize(DATA_ASSETS, selection=[training_dataset], resources=resources(demo_database, tmp_path),
                           instance=instance).success
    assert _session_row(demo_database, first) == finished  # untouched: status, completed_at, examples
    second = json.loads(manifest_path.read_text())["session_id"]
    assert second != first
    derived = _session_row(demo_database, second)
    assert derived["status"] == "prepared" and derived["stored"] == finished["stored"]
