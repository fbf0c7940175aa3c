"""Run-level concurrency: Dagster pools for training and promotion, and freeing the slots of runs that died.

`lora_adapter` is in pool `rxt5_training`, `active_model_version` in pool `rxt5_promotion`; dagster.yaml sets every
pool's limit to 1 (`concurrency: pools: default_limit: 1`), so across all runs — Dagit, the sensor, and runs started with
`dagster asset materialize` when DAGSTER_HOME holds that dagster.yaml — one training step and one promotion step run at a
time; the others wait in the pool's queue ("Step blocked by limit for pool rxt5_training"). Raise a limit with
`dagster instance concurrency set rxt5_training 2` (or in Dagit: Deployment → Concurrency).

A pool slot is freed by the process that claimed it, the run process. A run whose process is SIGKILLed never frees it,
and stays STARTED: every later training would then wait forever (measured with `dagster asset materialize`).
`reap_dead_runs` finds the runs that hold or wait for a slot, are not finished, and whose run process is gone, marks
them failed and frees their slots. It runs in the `rxt5_dead_run_reaper` sensor (every 30 s under `dagster dev` /
the daemon), in `rxt5 runs reap` (without a daemon; `find_dead_runs` is its --dry-run) and in
`scripts/fault_injection.py`; it needs the run process to be on this host: always true with the
embedded database (a Unix socket only), else only for runs tagged `rxt5/host` with this host (lora_adapter and
active_model_version tag their runs).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

TRAINING_POOL = "rxt5_training"
PROMOTION_POOL = "rxt5_promotion"
POOLS = (TRAINING_POOL, PROMOTION_POOL)
HOST_TAG = "rxt5/host"
PID_TAG = "rxt5/run_pid"


def tag_run_with_host(context) -> None:
    """Record where this run's process lives, so a reaper on this host may free its slots if it dies."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    run_pid = parent.pid if parent is not None else os.getpid()  # multiprocess step: the run process is the parent
    try:
        context.instance.add_run_tags(context.run.run_id, {HOST_TAG: socket.gethostname(), PID_TAG: str(run_pid)})
    except Exception as exc:  # an ephemeral instance in tests, a storage without tags: nothing to reap there anyway
        context.log.debug(f"could not tag the run with its host: {exc}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_pid(instance, run) -> int | None:
    if run.tags.get(PID_TAG):
        return int(run.tags[PID_TAG])
    from dagster import DagsterEventType

    records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_START, limit=1).records
    if not records or records[0].event_log_entry.dagster_event is None:
        return None
    return records[0].event_log_entry.dagster_event.pid


@dataclass(frozen=True)
class DeadRun:
    """A run that holds or waits for one of rxt5's pool slots although it cannot use it: its process is gone
    (`pid` set; reaping marks it failed) or it already finished (`pid` None; reaping only frees its slots)."""

    run_id: str
    job_name: str
    status: str
    pid: int | None
    pools: tuple[str, ...]

    @property
    def finished(self) -> bool:
        return self.pid is None


def find_dead_runs(instance, *, all_local: bool) -> list[DeadRun]:
    """The runs `reap_dead_runs` would reap, changing nothing. `all_local`: every run process is on this host (the
    embedded database), else only runs tagged with this host are considered."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    pools_of: dict[str, set[str]] = {}
    for pool in POOLS:
        info = storage.get_concurrency_info(pool)
        for run_id in {slot.run_id for slot in info.claimed_slots} | {step.run_id for step in info.pending_steps}:
            pools_of.setdefault(run_id, set()).add(pool)
    host = socket.gethostname()
    dead = []
    for run_id in sorted(pools_of):
        run = instance.get_run_by_id(run_id)
        pools = tuple(sorted(pools_of[run_id]))
        if run is None or run.is_finished:
            dead.append(DeadRun(run_id, run.job_name if run else "?", run.status.value if run else "DELETED", None,
                                pools))
            continue
        if not all_local and run.tags.get(HOST_TAG) != host:
            continue
        pid = _run_pid(instance, run)
        if pid is None or _alive(pid):
            continue
        dead.append(DeadRun(run_id, run.job_name, run.status.value, pid, pools))
    return dead


def reap_dead_runs(instance, *, all_local: bool, log=None, dead: list[DeadRun] | None = None) -> list[str]:
    """Mark failed the unfinished runs in rxt5's pools whose run process is gone, and free their slots (and the slots
    finished runs still hold); returns the ids of the runs marked failed. `dead`: what `find_dead_runs` returned
    (default: found now)."""
    storage = instance.event_log_storage
    reaped = []
    for found in find_dead_runs(instance, all_local=all_local) if dead is None else dead:
        if found.finished:
            storage.free_concurrency_slots_for_run(found.run_id)  # what the daemon does after free_slots_after_run_end
            continue
        run = instance.get_run_by_id(found.run_id)
        if run is None or run.is_finished:  # finished between the look and now: its own process freed what it held
            storage.free_concurrency_slots_for_run(found.run_id)
            continue
        message = (f"rxt5: the process of this run (pid {found.pid}) is gone (killed?); marked failed and its pool "
                   "slots freed so other runs can train/promote")
        instance.report_run_failed(run, message=message)
        storage.free_concurrency_slots_for_run(found.run_id)
        if log is not None:
            log.warning(f"run {found.run_id}: {message}")
        reaped.append(found.run_id)
    return reaped


def dead_run_reaper_sensor():
    """A sensor that never launches runs: every 30 s it reaps the dead runs that hold rxt5's pool slots."""
    from dagster import DefaultSensorStatus, SkipReason, sensor

    @sensor(name="rxt5_dead_run_reaper", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
            description="Frees the training/promotion pool slots of runs whose process died (and marks them "
                        "failed); launches nothing.")
    def rxt5_dead_run_reaper(context):
        from rxt5_assets.db import Database

        reaped = reap_dead_runs(context.instance, all_local=Database().is_embedded, log=context.log)
        return SkipReason(f"reaped {len(reaped)} dead run(s): {', '.join(reaped)}" if reaped
                          else "no dead run holds a pool slot")

    return rxt5_dead_run_reaper
