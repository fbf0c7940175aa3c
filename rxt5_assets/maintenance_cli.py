"""`rxt5 runs list`, `rxt5 runs reap` and `rxt5 clean`: operating rxt5 without Dagit or a daemon.

argparse only at import; Dagster and the database are imported inside the commands.

The Dagster instance is the one `dagster dev` uses: `$DAGSTER_HOME/dagster.yaml` when DAGSTER_HOME is set, else the
dagster.yaml of the current folder, else the project's (next to the rxt5_assets package in a checkout). With rxt5's
dagster.yaml its runs live in PostgreSQL (the embedded server in $RXT5_HOME by default), so any of these finds them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from rxt5_assets.errors import UserFacingError

UNFINISHED = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def instance_config_dir() -> Path:
    """Where the dagster.yaml of rxt5's Dagster instance is (see the module docstring)."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]).expanduser().resolve()
    for folder in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (folder / "dagster.yaml").is_file():
            return folder
    raise UserFacingError("no Dagster instance configuration found: set DAGSTER_HOME to the folder of rxt5's "
                          "dagster.yaml (or run this in the folder holding it, where `dagster dev` runs)")


@contextlib.contextmanager
def dagster_instance(home: str | None = None) -> Iterator:
    """rxt5's Dagster instance for `home` ($RXT5_HOME unless given); its local artifacts under $RXT5_HOME/dagster."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    from rxt5_assets.db.connection import ENV_HOME, rxt5_home

    config_dir = instance_config_dir()
    resolved = rxt5_home(home)
    previous = os.environ.get(ENV_HOME)
    os.environ[ENV_HOME] = str(resolved)  # dagster.yaml's storage and compute logs resolve $RXT5_HOME when loaded
    try:
        if os.environ.get("DAGSTER_HOME"):
            instance = DagsterInstance.get()
        else:
            base = resolved / "dagster"
            base.mkdir(parents=True, exist_ok=True)
            instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(base), config_dir=str(config_dir)))
        with instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop(ENV_HOME, None)
        else:
            os.environ[ENV_HOME] = previous


def _all_local(home: str | None) -> bool:
    from rxt5_assets.db import Database

    return Database(home=home).is_embedded


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: float | None, end: float | None) -> str:
    if not start:
        return "-"
    seconds = int((end or datetime.now(timezone.utc).timestamp()) - start)
    return f"{seconds // 60}m{seconds % 60:02d}s" + ("" if end else " (running)")


def cmd_runs_list(args: argparse.Namespace) -> int:
    from dagster import DagsterRunStatus, RunsFilter

    statuses = [DagsterRunStatus(s) for s in args.status] if args.status else None
    with dagster_instance(args.home) as instance:
        records = instance.get_run_records(filters=RunsFilter(statuses=statuses) if statuses else None,
                                           limit=args.limit)
    rows = []
    for record in records:
        run = record.dagster_run
        rows.append({"run_id": run.run_id, "job": run.job_name, "status": run.status.value,
                     "started": _when(record.start_time), "duration": _duration(record.start_time, record.end_time),
                     "launched_by": run.tags.get("dagster/sensor_name") or run.tags.get("dagster/user") or
                     ("sensor" if run.tags.get("dagster/run_key") else "manual"),
                     "assets": sorted(key.to_user_string() for key in run.asset_selection or ()),
                     "run_key": run.tags.get("dagster/run_key")})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no runs" + (f" with status {', '.join(args.status)}" if args.status else ""))
        return 0
    print(f"{'run id':36}  {'status':9}  {'started (UTC)':19}  {'duration':16}  job / launched by")
    for row in rows:
        assets, more = row["assets"], ", …" if len(row["assets"]) > 3 else ""
        what = row["job"] if row["job"] != "__ASSET_JOB" else (
            f"{len(assets)} assets: {', '.join(assets[:3])}{more}" if assets else "assets")
        print(f"{row['run_id']:36}  {row['status']:9}  {row['started']:19}  {row['duration']:16}  {what} "
              f"({row['launched_by']}{', ' + row['run_key'] if row['run_key'] else ''})")
    return 0


def cmd_runs_reap(args: argparse.Namespace) -> int:
    from rxt5_assets.defs.concurrency import find_dead_runs, reap_dead_runs

    all_local = _all_local(args.home)
    with dagster_instance(args.home) as instance:
        dead = find_dead_runs(instance, all_local=all_local)
        reaped = [] if args.dry_run else reap_dead_runs(instance, all_local=all_local, dead=dead)
    rows = [{"run_id": d.run_id, "job": d.job_name, "status": d.status, "pid": d.pid, "pools": list(d.pools),
             "action": ("free slots" if d.finished else "mark failed, free slots"),
             "done": (not args.dry_run) and (d.finished or d.run_id in reaped)} for d in dead]
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "all_local": all_local, "runs": rows}, indent=2))
        return 0
    scope = "every run of this host's embedded database" if all_local else "runs tagged with this host"
    if not rows:
        print(f"no dead run holds a pool slot (looked at {scope})")
        return 0
    verb = "would" if args.dry_run else "did"
    for row in rows:
        why = f"process {row['pid']} is gone" if row["pid"] is not None else f"already {row['status']}"
        print(f"{row['run_id']}  {row['job']}  {row['status']} ({why}); pools {', '.join(row['pools'])}: "
              f"{verb} {row['action']}" + ("" if args.dry_run or row["done"] else " (skipped: it changed meanwhile)"))
    failed = sum(1 for row in rows if row["pid"] is not None and (args.dry_run or row["done"]))
    print(f"{'would reap' if args.dry_run else 'reaped'} {failed} dead run(s), {len(rows) - failed} finished run(s) "
          f"holding slots ({scope})" + ("; rerun without --dry-run to do it" if args.dry_run else ""))
    return 0


def _in_progress_runs(home: str | None) -> set[str]:
    from dagster import DagsterRunStatus, RunsFilter

    with dagster_instance(home) as instance:
        return {run.run_id for run in instance.get_runs(
            filters=RunsFilter(statuses=[DagsterRunStatus(s) for s in UNFINISHED]))}


def _recent_versions(home: str | None, keep_versions: int) -> list[str]:
    """The version names of the `keep_versions` newest distinct versions switched in (t5_deployments): the active one
    and the one(s) `rxt5 rollback` goes back to."""
    from rxt5_assets.db import Database

    with Database(home=home).connect() as conn:
        rows = conn.execute(
            """select v.version from t5_deployments d join t5_model_versions v on v.id = d.model_version_id
               group by v.version order by max(d.id) desc limit %s""", [keep_versions]).fetchall()
        active = conn.execute("select version from t5_model_versions where is_active").fetchall()
    return [r[0] for r in rows] + [r[0] for r in active]


def cmd_clean(args: argparse.Namespace) -> int:
    from rxt5_assets import cleanup
    from rxt5_assets.db.connection import rxt5_home

    home = rxt5_home(args.home)
    in_progress = _in_progress_runs(args.home)
    versions = _recent_versions(args.home, args.keep_versions)
    plan = cleanup.Plan(
        cleanup.plan_run_folders(home, in_progress=in_progress, keep_runs=args.keep_runs,
                                 min_age_s=args.min_age_hours * 3600)
        + cleanup.plan_ct2_caches(home, keep_versions=versions))
    removed = plan.removals if args.dry_run else cleanup.apply(plan, home, in_progress=_in_progress_runs(args.home))
    if args.json:
        print(json.dumps({**plan.to_json(), "dry_run": args.dry_run, "done": [str(i.path) for i in removed]},
                         indent=2))
        return 0
    if args.verbose:
        for item in plan.kept:
            print(f"keep    {item.kind:10}  {item.path.relative_to(home)}  ({item.keep_reason})")
    for item in removed:
        print(f"{'would remove' if args.dry_run else 'removed'}  {item.kind:10}  {item.path.relative_to(home)}  "
              f"{cleanup.format_bytes(item.bytes)}")
    skipped = len(plan.removals) - len(removed)
    freed = sum(item.bytes for item in removed)
    by_kind = {kind: sum(1 for i in removed if i.kind == kind) for kind in ("run-folder", "ct2-cache")}
    print(f"{'would free' if args.dry_run else 'freed'} {cleanup.format_bytes(freed)}: {by_kind['run-folder']} run "
          f"folder(s), {by_kind['ct2-cache']} CTranslate2 cache(s); kept {len(plan.kept)}"
          + (f"; {skipped} skipped (in use now)" if skipped else "")
          + ("; rerun without --dry-run to delete" if args.dry_run and removed else ""))
    return 0


def add_maintenance_commands(commands) -> None:
    runs = commands.add_parser(
        "runs", help="Dagster runs without Dagit: list recent runs, reap dead ones",
        description=("The Dagster runs of rxt5's instance (the one `dagster dev` uses: $DAGSTER_HOME/dagster.yaml, "
                     "else ./dagster.yaml, else the project's; runs live in PostgreSQL, the embedded server in "
                     "$RXT5_HOME by default)."))
    run_commands = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    listing = run_commands.add_parser(
        "list", help="recent runs with their status, start, duration and what launched them",
        description="Recent Dagster runs, newest first: run id, status, start (UTC), duration, the job (or the "
                    "assets of an ad-hoc materialization) and what launched it (a sensor and its run key, or manual).")
    listing.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20)")
    listing.add_argument("--status", action="append", metavar="STATUS",
                         choices=["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "SUCCESS", "FAILURE", "CANCELING",
                                  "CANCELED"],
                         help="only runs with this status (repeatable): QUEUED, STARTED, SUCCESS, FAILURE, ...")
    listing.add_argument("--json", action="store_true", help="print machine-readable JSON")
    listing.set_defaults(func=cmd_runs_list)
    reap = run_commands.add_parser(
        "reap", help="mark failed the runs whose process died, and free the pool slots they hold",
        description=(
            "What the rxt5_dead_run_reaper sensor does every 30 s under `dagster dev`, for operators without a "
            "daemon. A run killed with SIGKILL (or OOM-killed) never frees its slot in pool rxt5_training or "
            "rxt5_promotion and stays STARTED, so every later training or promotion waits forever. This finds the "
            "unfinished runs holding or waiting for such a slot whose run process is gone, marks them failed and "
            "frees their slots (and frees slots that finished runs still hold). A run whose process is alive is "
            "never touched. With the embedded database every run process is on this host; with an external one only "
            "runs tagged rxt5/host with this host are considered."),
        epilog="exit status 0 whether or not something was reaped; --json for scripts")
    reap.add_argument("--dry-run", action="store_true", help="list what would be reaped and change nothing")
    reap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    reap.set_defaults(func=cmd_runs_reap)

    from rxt5_assets import cleanup

    clean = commands.add_parser(
        "clean", help="delete old per-run data folders and CTranslate2 caches of old versions",
        description=(
            "Free disk under $RXT5_HOME. Per-run data folders (data/runs/<run id>/, the data stage's files of one "
            "Dagster run) are deleted unless a data/latest pointer names them, their run is in progress, they are "
            f"among the --keep-runs newest (default {cleanup.DEFAULT_KEEP_RUNS}) or changed within --min-age-hours. "
            "CTranslate2 caches (models/deployments/<version>/ct2-*/) are deleted except for the active version and "
            f"the --keep-versions most recently deployed ones (default {cleanup.DEFAULT_KEEP_VERSIONS}: the active "
            "one and the one `rxt5 rollback` returns to); a cache being converted is skipped. Deployment folders, "
            "datasets, adapters and the database are never touched; a version whose cache was deleted is converted "
            "again when it is deployed again."),
        epilog="example: rxt5 clean --dry-run -v    (what would go, what stays and why, and how many bytes)")
    clean.add_argument("--dry-run", action="store_true", help="print what would be deleted (and the bytes) only")
    clean.add_argument("--keep-runs", type=int, default=cleanup.DEFAULT_KEEP_RUNS, metavar="N",
                       help="always keep the N newest run folders")
    clean.add_argument("--keep-versions", type=int, default=cleanup.DEFAULT_KEEP_VERSIONS, metavar="N",
                       help="keep the CTranslate2 caches of the N most recently deployed versions")
    clean.add_argument("--min-age-hours", type=float, default=cleanup.DEFAULT_MIN_AGE_S / 3600, metavar="H",
                       help="keep run folders changed less than H hours ago (default 1)")
    clean.add_argument("-v", "--verbose", action="store_true", help="also list what is kept and why")
    clean.add_argument("--json", action="store_true", help="print machine-readable JSON")
    clean.set_defaults(func=cmd_clean)

