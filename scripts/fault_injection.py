#!/usr/bin/env python
"""Replay issue 9's list of hostile and operator faults against a running rxt5 (the embedded default, in a temporary
RXT5_HOME and DAGSTER_HOME holding this repository's dagster.yaml) and print a table of outcomes.

    python scripts/fault_injection.py [--keep] [--skip-dagster | --only-dagster] [--skip-ingest-kill]

Every case runs real processes (`rxt5 …`, `dagster asset materialize …`), kills real processes it started itself (by
pid, never by name) and reads the real database. Cases of the data stage's run isolation (defects 1 and 3) are
not replayed here: they belong to the data stage's own work.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
BIN = Path(sys.executable).parent
RESULTS: list[tuple[str, str, str, bool]] = []


def record(case: str, expected: str, observed: str, ok: bool) -> None:
    RESULTS.append((case, expected, observed, bool(ok)))
    print(f"[{'ok' if ok else 'FAIL'}] {case}: {observed}", file=sys.stderr, flush=True)


class System:
    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.dagster_home = root / "dagster_home"
        self.dagster_home.mkdir(parents=True)
        shutil.copy(REPO / "dagster.yaml", self.dagster_home / "dagster.yaml")
        self.env = {k: v for k, v in os.environ.items() if k not in ("RXT5_DATABASE_URL", "RXT5_DAGSTER_DATABASE_URL")}
        self.env.update(RXT5_HOME=str(self.home), DAGSTER_HOME=str(self.dagster_home), HF_HUB_OFFLINE="1",
                        PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", OMP_NUM_THREADS="1",
                        TOKENIZERS_PARALLELISM="false")
        self.env.pop("XDG_RUNTIME_DIR", None)

    def rxt5(self, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([PY, "-m", "rxt5_assets.cli", *args], capture_output=True, text=True,
                              env={**self.env, **(env or {})}, cwd=self.root, timeout=timeout)

    def popen(self, argv: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**self.env, **(env or {})},
                                cwd=self.root, start_new_session=True)

    def url(self) -> str:
        """The embedded server's DSN; this script joins the server as one of its users (pgserver stops it when its
        last user leaves), and rejoins after a case killed it."""
        if getattr(self, "_url", None) is None:
            from pgserver.postgres_server import PostgresServer

            from rxt5_assets.db import connection

            connection._servers.clear()
            PostgresServer._instances.clear()
            self._url = connection.resolve_database_url(home=self.home)
        return self._url

    def forget_server(self) -> None:
        self._url = None

    def sql(self, query: str, *params):
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else None

    def postmaster_pid(self) -> int:
        return int((self.home / "pgdata" / "postmaster.pid").read_text().splitlines()[0])

    def materialize(self, select: str, log: Path, config: dict | None = None) -> subprocess.Popen:
        argv = [str(BIN / "dagster"), "asset", "materialize", "-m", "rxt5_assets.definitions", "--select", select]
        if config:
            path = log.with_suffix(".yaml")
            path.write_text(json.dumps(config))
            argv += ["-c", str(path)]
        return self.popen(argv, log)


def one_line(stderr: str) -> bool:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return len(lines) == 1 and "Traceback" not in stderr


def wait_until(predicate, timeout: float, every: float = 0.5) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(") ")[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def sessions_and_versions(system: System) -> tuple[int, int]:
    return (system.sql("select count(*) from t5_training_sessions")[0][0],
            system.sql("select count(*) from t5_model_versions where adapter_path is not null")[0][0])


# ---------------------------------------------------------------------------------------------------------------------
# training through the CLI


def synthetic_data(system: System) -> tuple[Path, Path]:
    from rxt5_assets.training.synthetic import synthetic_examples, write_jsonl

    folder = system.root / "data"
    return (write_jsonl(folder / "train.jsonl", synthetic_examples(64, seed=1, prefix="train")),
            write_jsonl(folder / "eval.jsonl", synthetic_examples(12, seed=2, prefix="eval")))


def train_argv(train: Path, evaluation: Path, output: Path, *extra: str) -> list[str]:
    return [PY, "-m", "rxt5_assets.cli", "train", "--train-file", str(train), "--eval-file", str(evaluation),
            "--output-dir", str(output), "--train-batch-size", "4", *extra]


def case_bad_input(system: System, train: Path, evaluation: Path) -> None:
    before = sessions_and_versions(system)
    a_file = system.root / "a-file"
    a_file.write_text("x")
    latin1 = system.root / "latin1.jsonl"
    latin1.write_bytes(train.read_bytes().splitlines()[0] + b"\n" + '{"input": "caf\xe9"}\n'.encode("latin-1"))
    cases = [
        ("rxt5 train --output-dir <a file>", train_argv(train, evaluation, a_file)[3:], "is not a folder"),
        ("rxt5 train on a non-UTF-8 JSONL", train_argv(latin1, evaluation, system.root / "o1")[3:],
         f"{latin1}:2: not UTF-8"),
        ("rxt5 train --epochs inf", train_argv(train, evaluation, system.root / "o2", "--epochs", "inf")[3:],
         "not a finite number"),
        ("rxt5 train --learning-rate nan", train_argv(train, evaluation, system.root / "o3", "--learning-rate",
                                                      "nan")[3:], "not a finite number"),
    ]
    for name, argv, message in cases:
        done = system.rxt5(*argv)
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        usage = done.returncode == 2 and "usage:" in done.stderr  # argparse: usage line + the error line
        ok = done.returncode in (1, 2) and message in done.stderr and "Traceback" not in done.stderr and (
            usage or one_line(done.stderr))
        record(name, f"one-line error naming it ({message!r}), no traceback", f"exit {done.returncode}: {last[:110]}",
               ok)
    after = sessions_and_versions(system)
    made = [p.name for p in (system.root / "o1", system.root / "o2", system.root / "o3") if p.exists()]
    record("rejected train input leaves no trace", "no `failed` session inserted, no output dir created",
           f"sessions {before[0]} -> {after[0]}, output dirs created: {made or 'none'}", after == before and not made)
    done = system.rxt5("ingest", str(system.root), "--demo")
    record("rxt5 ingest PATH --demo", "refused (not silently ignoring PATH)",
           f"exit {done.returncode}: {done.stderr.strip()[:110]}", done.returncode == 2 and "not both" in done.stderr)


def case_two_trainings_one_folder(system: System, train: Path, evaluation: Path) -> None:
    out = system.root / "runs" / "same"
    before = sessions_and_versions(system)
    # long enough that the second command (seconds of imports on a loaded machine) starts while the first trains
    first = system.popen(train_argv(train, evaluation, out, "--epochs", "20", "--max-steps", "240"),
                         system.root / "train-a.log")
    wait_until(lambda: (out / ".rxt5-train.lock").exists() and system.sql(
        "select count(*) from t5_training_sessions where status = 'training'")[0][0] > 0, 300)
    second = system.rxt5(*train_argv(train, evaluation, out, "--epochs", "3", "--resume")[3:])
    first.wait(900)
    after = sessions_and_versions(system)
    adapters = system.sql("select count(distinct adapter_path), count(*) from t5_model_versions "
                          "where adapter_path like %s", f"{out}%")[0]
    ok = (first.returncode == 0 and second.returncode == 1 and "being trained into by another process" in
          second.stderr and one_line(second.stderr) and adapters == (1, 1) and after[0] == before[0] + 1)
    record("two `rxt5 train` into one folder at once", "one trains; the other fails at once naming the holder; "
           "one version row", f"first exit {first.returncode}, second exit {second.returncode}: "
           f"{second.stderr.strip()[:90]}…; versions for the folder {adapters[1]}", ok)
    digest = (out / "adapter" / "adapter_model.safetensors").read_bytes()
    again = system.rxt5(*train_argv(train, evaluation, out, "--epochs", "3", "--resume")[3:])
    unchanged = (out / "adapter" / "adapter_model.safetensors").read_bytes() == digest
    record("re-training a registered adapter's folder", "refused; adapter files unchanged",
           f"exit {again.returncode}: {again.stderr.strip()[:80]}…; unchanged: {unchanged}",
           again.returncode == 1 and "never written again" in again.stderr and unchanged)


def case_sigint_then_resume(system: System, train: Path, evaluation: Path) -> None:
    out = system.root / "runs" / "sigint"
    run = system.popen(train_argv(train, evaluation, out, "--epochs", "40"), system.root / "sigint.log")
    wait_until(lambda: any(out.glob("checkpoint-*/trainer_state.json")), 600)
    os.killpg(run.pid, signal.SIGINT)
    run.wait(300)
    session = json.loads((out / "rxt5_session.json").read_text())["session_id"]
    status = system.sql("select status, error from t5_training_sessions where id = %s", session)[0]
    done = system.rxt5(*train_argv(train, evaluation, out, "--epochs", "2", "--resume")[3:])
    final = system.sql("select status, error from t5_training_sessions where id = %s", session)[0]
    record("SIGINT, then --resume", "interrupted, then completed with the error cleared",
           f"after SIGINT {status[0]}; after resume (exit {done.returncode}) {final[0]}, error {final[1]!r}",
           status[0] == "interrupted" and done.returncode == 0 and final == ("completed", None))


def start_long_training(system: System, train: Path, evaluation: Path, name: str):
    """(process, output dir) of an `rxt5 train` that has written its session marker and a progress row."""
    out = system.root / "runs" / name
    run = system.popen(train_argv(train, evaluation, out, "--epochs", "40"), system.root / f"{name}.log")
    wait_until(lambda: (out / "rxt5_session.json").exists() and system.sql(
        "select count(*) from t5_training_progress p join t5_training_sessions s on s.id = p.training_session_id "
        "where s.status = 'training'")[0][0] > 0, 600)
    return run, out


def case_sigkill_trainer(system: System, train: Path, evaluation: Path) -> None:
    run, out = start_long_training(system, train, evaluation, "sigkill")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(60)
    session = json.loads((out / "rxt5_session.json").read_text())["session_id"]
    left = system.sql("select status from t5_training_sessions where id = %s", session)[0][0]
    status = system.rxt5("db", "status")
    marked = system.sql("select status from t5_training_sessions where id = %s", session)[0][0]
    record("SIGKILL of `rxt5 train`", "session `training` until the next run / `rxt5 db status` marks it "
           "interrupted", f"left {left}; `rxt5 db status` (exit {status.returncode}) -> {marked}",
           left == "training" and marked == "interrupted" and session in status.stdout)


def case_postgres_killed_during_training(system: System, train: Path, evaluation: Path) -> None:
    run, out = start_long_training(system, train, evaluation, "pgkill")
    session = json.loads((out / "rxt5_session.json").read_text())["session_id"]
    os.kill(system.postmaster_pid(), signal.SIGKILL)
    run.wait(300)
    text = (system.root / "pgkill.log").read_text()
    errors = [line for line in text.splitlines() if line.startswith("rxt5:")]
    tracebacks = text.count("Traceback")
    system.forget_server()  # the server restarts with the next command
    status = system.rxt5("db", "status")
    marked = system.sql("select status from t5_training_sessions where id = %s", session)[0][0]
    record("PostgreSQL killed during training", "one line naming the database and the fix; session then marked "
           "interrupted", f"exit {run.returncode}, {tracebacks} traceback(s): {(errors or ['?'])[-1][:90]}…; "
           f"after restart + db status: {marked}",
           run.returncode == 1 and not tracebacks and errors and "--resume" in errors[-1] and marked == "interrupted")


def case_postgres_killed_during_ingest(system: System) -> None:
    source = Path("/usr/share/cargo/registry")
    if not source.is_dir():
        record("PostgreSQL killed mid-ingest", "one-line error", "skipped: no /usr/share/cargo/registry", True)
        return
    system.url()
    log = system.root / "ingest-kill.log"
    run = system.popen([PY, "-m", "rxt5_assets.cli", "ingest", str(source), "--quiet"], log)
    before = system.sql("select count(*) from code_chunks")[0][0]
    wait_until(lambda: system.sql("select count(*) from code_chunks")[0][0] > before, 300, every=0.2)
    os.kill(system.postmaster_pid(), signal.SIGKILL)
    run.wait(300)
    text = log.read_text()
    system.forget_server()
    lines = [line for line in text.strip().splitlines() if line.strip()]
    record("PostgreSQL killed mid-ingest", "one-line error, no AdminShutdown traceback, no atexit psutil "
           "traceback", f"exit {run.returncode}, {len(lines)} line(s): {(lines or ['?'])[-1][:100]}…",
           run.returncode == 1 and len(lines) == 1 and "Traceback" not in text and "NoSuchProcess" not in text)
    rerun = system.rxt5("ingest", str(source), "--quiet", timeout=1800)
    record("ingest rerun after the kill", "completes", f"exit {rerun.returncode}", rerun.returncode == 0)


# ---------------------------------------------------------------------------------------------------------------------
# secrets


def case_secrets(system: System) -> None:
    import stat as st
    from urllib.parse import quote, urlsplit

    system.sql("drop role if exists rxt5_fault_secret")
    system.sql("create role rxt5_fault_secret login superuser password 'x'")
    secret = "Fault:Secret 42"
    parts = urlsplit(system.url())
    url = parts._replace(netloc=f"rxt5_fault_secret:{quote(secret, safe='')}@").geturl()
    env = {"RXT5_DATABASE_URL": url}
    run = subprocess.Popen([PY, "-m", "rxt5_assets.cli", "db", "psql", "-c", "select pg_sleep(3)"],
                           env={**system.env, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []

    def look():
        for child in descendants(run.pid):
            try:
                seen.append(Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
        return bool(seen)

    wait_until(look, 60, every=0.1)
    run.wait(60)
    leaked = [c for c in seen if "Fault" in c or "Secret" in c]
    record("`rxt5 db psql` command line", "no password in psql's argv (`ps`)",
           f"psql argv: {(seen or ['(not seen)'])[0][:90]}…; leaked: {bool(leaked)}", seen and not leaked)
    keyword = f"host={parts.query.split('host=')[1].split('&')[0]} dbname=rxt5 user=rxt5_fault_secret " \
              f"password='{secret}'"
    outputs = []
    for dsn in (url, keyword, f"postgresql:///rxt5?host={parts.query.split('host=')[1].split('&')[0]}"
                                f"&user=rxt5_fault_secret&password=FaultSecret42"):
        status = system.rxt5("db", "status", env={"RXT5_DATABASE_URL": dsn})
        redacted = system.rxt5("db", "url", "--redacted", env={"RXT5_DATABASE_URL": dsn})
        outputs.append((status.returncode, "Secret" in status.stdout + status.stderr + redacted.stdout))
    record("redaction: `db status` and `db url --redacted` for URL, keyword and ?password= DSNs",
           "password shown as ***", f"exit codes {[o[0] for o in outputs]}, leaked {[o[1] for o in outputs]}",
           all(code == 0 and not leak for code, leak in outputs))
    bad = system.rxt5("db", "status", env={"RXT5_DATABASE_URL": "postgresql://u:TopSecret99@127.0.0.1:1/x"})
    record("redaction in a connection error", "one line, password ***",
           f"exit {bad.returncode}: {bad.stderr.strip()[:100]}",
           bad.returncode == 1 and "TopSecret99" not in bad.stderr and one_line(bad.stderr))

    loose = []
    for path in [system.home, *system.home.glob("*")]:
        if path.name == "pgdata":
            continue
        for p in [path, *(path.rglob("*") if path.is_dir() and path != system.home else [])]:
            mode = st.S_IMODE(p.lstat().st_mode)
            if p != system.home and mode & 0o077 and not p.is_symlink():
                loose.append(f"{p.relative_to(system.home)} {oct(mode)}")
    home_mode = oct(st.S_IMODE(system.home.stat().st_mode))
    record("files under $RXT5_HOME", "0600 files / 0700 folders (pgdata: PostgreSQL's own 0700)",
           f"home {home_mode}{' (as root pgserver opens it for its user)' if os.geteuid() == 0 else ''}; "
           f"group/world-accessible: {loose[:3] or 'none'}", not loose)


# ---------------------------------------------------------------------------------------------------------------------
# Dagster


def dagster_config(max_steps: int, steps: str = "in_process") -> dict:
    """Run config; `steps`: the executor's choice (in_process, rxt5's default, or a process per step)."""
    return {"resources": {"training": {"config": {"max_steps": max_steps, "logging_steps": 5}},
                          "data_prep": {"config": {"workers": 1}}},
            "execution": {"config": {"steps": steps}}}


def step_span(log: Path, step: str) -> tuple[float, float] | None:
    """(first, last) timestamp of the step's lines in a `dagster asset materialize` log (its own INFO lines: the
    engine's STEP_START / "blocked by limit" events are DEBUG, which dagster.yaml's python_log_level hides)."""
    from datetime import datetime

    stamps = [datetime.strptime(line[:25], "%Y-%m-%d %H:%M:%S %z").timestamp()
              for line in log.read_text().splitlines() if f" - {step} - " in line]
    return (min(stamps), max(stamps)) if stamps else None


def case_dagster(system: System) -> None:
    from dagster import DagsterInstance

    logs = system.root / "dagster"
    logs.mkdir()
    prep = system.materialize("*training_dataset,base_model", logs / "prep.log", dagster_config(60))
    prep.wait(1800)
    record("data stage + base through `dagster asset materialize`", "succeeds", f"exit {prep.returncode}",
           prep.returncode == 0)
    if prep.returncode != 0:
        return
    before = sessions_and_versions(system)

    # SIGKILL of the materialize parent while lora_adapter trains in a step process of its own (in_process, the
    # default, has no step worker to leave behind: the kill ends the step with the run)
    run = system.materialize("lora_adapter", logs / "kill.log", dagster_config(100000, steps="spawn"))
    wait_until(lambda: system.sql("select count(*) from t5_training_progress p join t5_training_sessions s "
                                  "on s.id = p.training_session_id where s.status = 'training'")[0][0] > 0, 900)
    workers = descendants(run.pid)
    session = system.sql("select id::text from t5_training_sessions where status = 'training'")[0][0]
    os.kill(run.pid, signal.SIGKILL)
    run.wait(60)
    start = time.time()
    stopped = wait_until(lambda: not any(alive(pid) for pid in workers), 120)
    took = time.time() - start
    status = system.sql("select status from t5_training_sessions where id = %s", session)[0][0]
    for pid in workers:  # never leave an orphan behind, whatever the outcome
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    record("SIGKILL of the `dagster asset materialize` parent during lora_adapter",
           "its step worker stops; session interrupted", f"step worker(s) {'gone' if stopped else 'STILL ALIVE'} "
           f"{took:.1f} s after the kill; session {status}", stopped and status == "interrupted")

    with DagsterInstance.get() as instance:  # DAGSTER_HOME: this system's instance
        os.environ.update(RXT5_HOME=system.env["RXT5_HOME"])
        from rxt5_assets.defs.concurrency import TRAINING_POOL, reap_dead_runs

        held = instance.event_log_storage.get_concurrency_info(TRAINING_POOL).claimed_slots
        reaped = reap_dead_runs(instance, all_local=True)
        free = instance.event_log_storage.get_concurrency_info(TRAINING_POOL).claimed_slots
        failed = [instance.get_run_by_id(r).status.value for r in reaped]
    record("the killed run's pool slot", "freed by the reaper (run marked failed), else every later training waits",
           f"slots held before {len(held)}, reaped {len(reaped)} run(s) -> {failed}, held after {len(free)}",
           len(held) == 1 and len(reaped) == 1 and not free)

    # two lora_adapter runs at once: the pool serialises them; each its own session and folder
    a = system.materialize("lora_adapter", logs / "a.log", dagster_config(20))
    b = system.materialize("lora_adapter", logs / "b.log", dagster_config(20))
    a.wait(1800), b.wait(1800)
    after = sessions_and_versions(system)
    paths = system.sql("select adapter_path, count(*) from t5_model_versions where adapter_path is not null "
                       "group by 1 having count(*) > 1")
    blocked = sum("blocked by limit for pool rxt5_training" in (logs / f"{n}.log").read_text() for n in "ab")
    spans = [step_span(logs / f"{n}.log", "lora_adapter") for n in "ab"]
    overlap = None not in spans and spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]
    per_session = system.sql("select training_session_id, count(*) from t5_model_versions where training_session_id "
                             "is not null group by 1 having count(*) > 1")
    record("two `lora_adapter` materializations at once", "one waits for the pool (one training at a time); "
           "every version its own session and adapter folder", f"exits {a.returncode}/{b.returncode}; training steps "
           f"{'OVERLAPPED' if overlap else 'one after the other'} (pool-blocked log lines: {blocked}); versions "
           f"{before[1]} -> {after[1]}; shared adapter paths: {len(paths)}, sessions with >1 version: "
           f"{len(per_session)}",
           a.returncode == 0 and b.returncode == 0 and None not in spans and not overlap and not paths
           and not per_session)
    loose = [str(p) for p in (system.home / "datasets").rglob("*") if p.stat().st_mode & 0o077]
    record("dataset files written by a Dagster run", "not group/world readable",
           f"loose: {loose[:2] or 'none'}", not loose)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the temporary RXT5_HOME")
    parser.add_argument("--skip-dagster", action="store_true", help="skip the Dagster cases (minutes of training)")
    parser.add_argument("--skip-ingest-kill", action="store_true", help="skip killing PostgreSQL during an ingest")
    parser.add_argument("--only-dagster", action="store_true", help="only the Dagster cases (after the demo ingest)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rxt5-fault-"))
    system = System(root)
    sys.path.insert(0, str(REPO))
    os.environ.update(system.env)
    started = time.time()
    try:
        assert system.rxt5("db", "migrate").returncode == 0
        train, evaluation = synthetic_data(system)
        if not args.only_dagster:
            case_bad_input(system, train, evaluation)
            case_two_trainings_one_folder(system, train, evaluation)
            case_sigint_then_resume(system, train, evaluation)
            case_sigkill_trainer(system, train, evaluation)
            case_postgres_killed_during_training(system, train, evaluation)
            case_secrets(system)
        done = system.rxt5("ingest", "--demo", "--quiet")
        record("rxt5 ingest --demo", "loads the demo corpus", f"exit {done.returncode}", done.returncode == 0)
        if not (args.skip_ingest_kill or args.only_dagster):
            case_postgres_killed_during_ingest(system)
        if not args.skip_dagster:
            case_dagster(system)
    finally:
        system.rxt5("db", "stop")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nfault injection: {sum(r[3] for r in RESULTS)}/{len(RESULTS)} ok in {time.time() - started:.0f} s "
          f"({'kept ' + str(root) if args.keep else 'temporary home removed'})\n")
    print("| case | expected | observed | ok |\n|---|---|---|---|")
    for case, expected, observed, ok in RESULTS:
        print(f"| {case} | {expected} | {observed.replace('|', '/')} | {'yes' if ok else '**no**'} |")
    return 0 if all(r[3] for r in RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
