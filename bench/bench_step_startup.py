"""What a Dagster step costs before it computes: the demo quick start's data steps under each executor.

    .venv/bin/python bench/bench_step_startup.py [--rounds 2] [--before /path/to/an/older/checkout]

Runs `dagster asset materialize` of the five data assets (and their four checks: nine steps) on the demo corpus, once
per executor (run config `execution: config: steps: …`, rxt5_assets/definitions.py): Dagster's default multiprocess
executor (spawn), multiprocess with `start_method: forkserver` preloading rxt5_assets.definitions, and in_process
(rxt5's default). It reads the run's events: a step's
compute is STEP_START → STEP_SUCCESS, and the overhead is the command's wall time minus the steps' compute
(interpreter starts, imports of the Definitions, Dagster's own orchestration). The analysis cache is warm (a first run
fills it) so that compute is the same in each. The `dagster` CLI's own start is part of every variant's overhead.
`--before` runs the default executor on another checkout as well (e.g. the commit before the lazy imports).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DATA_ASSETS = "code_chunks,preprocessed_chunks,scored_examples,cross_language_pairs,training_dataset"
EXECUTORS = {  # run config execution.config.steps (rxt5_assets/definitions.py)
    "multiprocess, spawn (Dagster's default)": "spawn",
    "multiprocess, forkserver preloading the Definitions": "forkserver",
    "in_process (rxt5's default)": "in_process",
}


def run_once(code: Path, home: Path, dagster_home: Path, executor: str | None) -> dict:
    env = {**os.environ, "RXT5_HOME": str(home), "DAGSTER_HOME": str(dagster_home), "PYTHONPATH": str(code)}
    env.pop("RXT5_DATABASE_URL", None)
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "rxt5_assets.definitions",
               "--select", DATA_ASSETS]
    if executor:
        command += ["--config-json", json.dumps({"execution": {"config": {"steps": executor}}})]
    started = time.perf_counter()
    subprocess.run(command, cwd=code, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        starts, compute = {}, 0.0
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                starts[event.step_key] = record.timestamp
            elif event.event_type == DagsterEventType.STEP_SUCCESS:
                compute += record.timestamp - starts[event.step_key]
    return {"wall": wall, "compute": compute, "steps": len(starts), "overhead": wall - compute}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", type=Path, help="another checkout to measure with the default executor")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rxt5-startup-") as scratch:
        home, dagster_home = Path(scratch) / "home", Path(scratch) / "dagster"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {**os.environ, "RXT5_HOME": str(home), "PYTHONPATH": str(PROJECT)}
        env.pop("RXT5_DATABASE_URL", None)
        subprocess.run([sys.executable, "-m", "rxt5_assets.cli", "ingest", "--demo", "--quiet"], env=env, check=True,
                       capture_output=True)
        run_once(PROJECT, home, dagster_home, "in_process")  # fills the analysis cache
        variants = [(name, PROJECT, execution) for name, execution in EXECUTORS.items()]
        if args.before:
            variants.insert(0, (f"before ({args.before.name}), default", args.before, None))
        results: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
        for _ in range(args.rounds):  # interleaved, so that load changes hit every variant alike
            for name, code, execution in variants:
                results[name].append(run_once(code, home, dagster_home, execution))
                print(name, json.dumps(results[name][-1]), file=sys.stderr, flush=True)
    print(f"\nload {os.getloadavg()[0]:.1f}; best of {args.rounds}\n")
    print("| executor | steps | wall s | steps' compute s | overhead s | overhead per step s |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        best = min(runs, key=lambda r: r["wall"])
        print(f"| {name} | {best['steps']} | {best['wall']:.1f} | {best['compute']:.1f} | {best['overhead']:.1f} | "
              f"{best['overhead'] / max(1, best['steps']):.2f} |")


if __name__ == "__main__":
    main()
