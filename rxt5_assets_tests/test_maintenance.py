"""`rxt5 runs list|reap` on a real Dagster instance in PostgreSQL, and `rxt5 clean` on real folders."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from rxt5_assets import cleanup
from rxt5_assets.cli import main
from rxt5_assets.db import Database
from rxt5_assets.defs.concurrency import HOST_TAG, PID_TAG, PROMOTION_POOL, TRAINING_POOL

DAGSTER_YAML = """\
storage:
  custom:
    module: rxt5_assets.db.dagster_storage
    class: Rxt5DagsterStorage
    config: {}
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


@pytest.fixture
def instance_env(database: Database, tmp_path: Path, monkeypatch):
    """What an operator with an external PostgreSQL has: DAGSTER_HOME holding rxt5's dagster.yaml; Dagster's runs
    and rxt5's tables in the same database."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("RXT5_DATABASE_URL", database.url)
    monkeypatch.delenv("RXT5_DAGSTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("RXT5_FAST_PATH_CONVERT", "off")
    return tmp_path / "home"


def _gone_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _run(instance, status, *, pid: int | None, pools=(TRAINING_POOL,), host=None) -> str:
    from dagster._core.test_utils import create_run_for_test

    tags = {HOST_TAG: host or socket.gethostname()}
    if pid is not None:
        tags[PID_TAG] = str(pid)
    run = create_run_for_test(instance, job_name="retrain_job", status=status, tags=tags)
    for pool in pools:
        claim = instance.event_log_storage.claim_concurrency_slot(pool, run.run_id, f"{pool}_step")
        assert claim.is_claimed, claim
    return run.run_id


def _holders(instance, pool: str) -> set[str]:
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(pool).claimed_slots}


def test_runs_reap_fails_dead_runs_frees_their_slots_and_leaves_live_ones(instance_env, capsys):
    from dagster import DagsterInstance, DagsterRunStatus

    with DagsterInstance.get() as instance:
        for pool in (TRAINING_POOL, PROMOTION_POOL):
            instance.event_log_storage.set_concurrency_slots(pool, 5)
        dead = _run(instance, DagsterRunStatus.STARTED, pid=_gone_pid(), pools=(TRAINING_POOL, PROMOTION_POOL))
        alive = _run(instance, DagsterRunStatus.STARTED, pid=os.getpid())
        finished = _run(instance, DagsterRunStatus.SUCCESS, pid=None)
        elsewhere = _run(instance, DagsterRunStatus.STARTED, pid=_gone_pid(), host="another-host")

    assert main(["runs", "reap", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert dead in out and "would mark failed, free slots" in out and finished in out
    assert alive not in out and elsewhere not in out  # alive: never touched; elsewhere: not this host's to judge
    assert "would reap 1 dead run(s), 1 finished run(s)" in out
    with DagsterInstance.get() as instance:  # the dry run changed nothing
        assert instance.get_run_by_id(dead).status == DagsterRunStatus.STARTED
        assert _holders(instance, TRAINING_POOL) == {dead, alive, finished, elsewhere}

    assert main(["runs", "reap"]) == 0
    out = capsys.readouterr().out
    assert "reaped 1 dead run(s), 1 finished run(s) holding slots (runs tagged with this host)" in out
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(dead).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == DagsterRunStatus.STARTED
        assert _holders(instance, TRAINING_POOL) == {alive, elsewhere}
        assert _holders(instance, PROMOTION_POOL) == set()

    assert main(["runs", "reap", "--json"]) == 0  # nothing left to reap
    assert json.loads(capsys.readouterr().out)["runs"] == []
    assert main(["runs", "list", "--json", "--limit", "10"]) == 0
    listed = {row["run_id"]: row["status"] for row in json.loads(capsys.readouterr().out)}
    assert listed == {dead: "FAILURE", alive: "STARTED", finished: "SUCCESS", elsewhere: "STARTED"}
    assert main(["runs", "list", "--status", "FAILURE"]) == 0
    out = capsys.readouterr().out
    assert dead in out and alive not in out


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def _age(folder: Path, seconds: float) -> None:
    then = time.time() - seconds
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            os.utime(os.path.join(root, name), (then, then))
    os.utime(folder, (then, then))


def _run_folders(home: Path) -> dict[str, Path]:
    """Seven run folders, oldest first: r1 named by a latest pointer, r2's parquet hard-linked into r3 (as a step
    adopting its upstream does), r4's run in progress, r5 and r6 the newest, r7 changed just now."""
    runs = home / "data" / "runs"
    folders = {name: runs / name for name in ("r1", "r2", "r3", "r4", "r5", "r6", "r7")}
    for index, (name, folder) in enumerate(folders.items()):
        _write(folder / "examples.parquet", 1000 * (index + 1))
    (folders["r2"] / "preprocessed_chunks").mkdir()
    _write(folders["r2"] / "preprocessed_chunks" / "part-00000.parquet", 50_000)
    (folders["r3"] / "preprocessed_chunks").mkdir()
    os.link(folders["r2"] / "preprocessed_chunks" / "part-00000.parquet",
            folders["r3"] / "preprocessed_chunks" / "part-00000.parquet")
    for index, name in enumerate(("r1", "r2", "r3", "r4", "r5", "r6")):
        _age(folders[name], 86400 * 10 - index * 3600 * 20)
    (home / "data" / "latest").mkdir(parents=True)
    (home / "data" / "latest" / "training_dataset.json").write_text(json.dumps({"folder": "data/runs/r1"}))
    return folders


def test_clean_plan_keeps_pointed_in_progress_newest_and_recent_folders_and_counts_hard_links(tmp_path: Path):
    home = tmp_path / "home"
    folders = _run_folders(home)
    items = {item.path.name: item for item in
             cleanup.plan_run_folders(home, in_progress={"r4"}, keep_runs=2, min_age_s=3600)}
    assert items["r1"].keep_reason == "data/latest/training_dataset.json points at it"
    assert items["r4"].keep_reason == "its run is in progress"
    assert items["r6"].keep_reason == "one of the 2 newest" and items["r7"].keep_reason == "one of the 2 newest"
    assert items["r5"].removed and items["r2"].removed and items["r3"].removed
    # the part linked into r2 and r3 is freed once, only because both go
    assert items["r2"].bytes + items["r3"].bytes == 2000 + 3000 + 50_000
    alone = {item.path.name: item for item in cleanup.plan_run_folders(home, in_progress={"r3"}, keep_runs=2)}
    assert alone["r2"].removed and alone["r2"].bytes == 2000  # r3 keeps the linked part: deleting r2 frees its own
    recent = {item.path.name: item for item in cleanup.plan_run_folders(home, in_progress=set(), keep_runs=0,
                                                                          min_age_s=3600)}
    assert recent["r7"].keep_reason.startswith("changed ")
    assert {name for name, item in recent.items() if item.removed} == {"r2", "r3", "r4", "r5", "r6"}

    leftover = home / "data" / "runs" / ".rxt5-clean-r0-0badc0de"  # what a clean killed mid-delete leaves
    _write(leftover / "examples.parquet", 700)
    items = {item.path.name: item for item in
             cleanup.plan_run_folders(home, in_progress={"r4"}, keep_runs=2, min_age_s=3600)}
    assert items[leftover.name].removed and items[leftover.name].bytes == 700
    plan = cleanup.Plan(list(items.values()))
    # a run that started meanwhile, or a pointer that moved meanwhile, keeps its folder at deletion time
    (home / "data" / "latest" / "scored_examples.json").write_text(json.dumps({"folder": "data/runs/r5"}))
    removed = cleanup.apply(plan, home, in_progress={"r2"})
    assert [item.path.name for item in removed] == ["r3", leftover.name]
    assert sorted(p.name for p in (home / "data" / "runs").iterdir()) == ["r1", "r2", "r4", "r5", "r6", "r7"]
    assert (folders["r2"] / "preprocessed_chunks" / "part-00000.parquet").stat().st_nlink == 1


def _deploy_versions(database: Database, home: Path, names: list[str]) -> None:
    """Real deployments (rxt5 deploy) of adapter versions, each then given a CTranslate2 cache folder."""
    from rxt5_assets.evaluation.promotion import deploy

    for name in names:
        adapter = home / "runs" / name / "adapter"
        _write(adapter / "adapter_config.json", 10)
        _write(adapter / "adapter_model.safetensors", 4000)
        with database.connect() as conn:
            conn.execute("insert into t5_model_versions (version, base_model, adapter_path) values (%s, 'demo', %s)",
                         (name, str(adapter)))
        deployed = Path(deploy(database, name, home=home).path)
        _write(deployed / "ct2-fp32" / "model.bin", 100_000)
        _write(deployed / "ct2-fp32" / "rxt5_ct2.json", 10)


def test_rxt5_clean_keeps_the_active_and_previous_versions_caches_and_skips_a_conversion(
        instance_env, database: Database, capsys):
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    home = instance_env
    _deploy_versions(database, home, ["v1", "v2", "v3", "v4"])
    _run_folders(home)
    with DagsterInstance.get() as instance:
        running = create_run_for_test(instance, job_name="retrain_job", status=DagsterRunStatus.STARTED).run_id
    os.rename(home / "data" / "runs" / "r5", home / "data" / "runs" / running)  # its run is in progress

    assert main(["--home", str(home), "clean", "--dry-run", "--json", "--keep-runs", "1"]) == 0
    planned = json.loads(capsys.readouterr().out)
    removed = sorted(Path(item["path"]).relative_to(home).as_posix() for item in planned["removed"])
    assert removed == ["data/runs/r2", "data/runs/r3", "data/runs/r4", "data/runs/r6",
                       "models/deployments/v1/ct2-fp32", "models/deployments/v2/ct2-fp32"]
    assert planned["freed_bytes"] == 2000 + 3000 + 4000 + 6000 + 50_000 + 2 * 100_010
    assert (home / "data" / "runs" / "r2").exists()  # a dry run deletes nothing

    deployments = home / "models" / "deployments"
    with open(deployments / "v1" / ".ct2.lock", "a+") as lock:  # v1 is being converted right now
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert main(["--home", str(home), "clean", "--keep-runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "removed  ct2-cache   models/deployments/v2/ct2-fp32" in out and "1 skipped (in use now)" in out
    assert (deployments / "v1" / "ct2-fp32").is_dir() and not (deployments / "v2" / "ct2-fp32").exists()
    assert (deployments / "v3" / "ct2-fp32").is_dir() and (deployments / "v4" / "ct2-fp32").is_dir()
    assert (deployments / "v2" / "rxt5_deployment.json").is_file()  # the deployment itself stays deployable
    assert sorted(p.name for p in (home / "data" / "runs").iterdir()) == sorted(["r1", running, "r7"])
    assert os.readlink(home / "models" / "active").endswith("v4")
