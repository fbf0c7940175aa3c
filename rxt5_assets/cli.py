"""`rxt5`: the command line of the rxt5 platform.

Heavy libraries (torch, transformers, dagster) are imported inside the commands that need them, so `rxt5 --help` and the
database commands start instantly.
"""

from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = """\
rxt5 turns your organisation's Rust and Elixir code into a better code generator: it reads code chunks from
PostgreSQL, scores and pairs them, fine-tunes CodeT5+ with LoRA, and serves the best version.

The database is RXT5_DATABASE_URL when set, else an embedded PostgreSQL kept in $RXT5_HOME (default ./.rxt5).
"""

EPILOG = """\
examples:
  rxt5 db migrate                     create or upgrade the schema (safe to repeat)
  rxt5 ingest ~/src/my-service        cut a checkout into item-level chunks in code_chunks
  rxt5 ingest --demo                  load the shipped demo corpus (3 Rust + 3 Elixir repos)
  rxt5 db status                      server, schema version and row counts
  rxt5 db psql                        plain SQL on the monitoring tables (psql bundled with the embedded server)
  rxt5 versions                       model versions, their metrics, and which one is active
  rxt5 deploy VERSION                 serve VERSION (models/active); `rxt5 rollback` goes back
  rxt5 switch --base | --fine-tuned   serve the bare base, or the fine-tuned version again
  rxt5 summary                        chunks, dataset, base vs fine-tuned, the gate, the active version
  rxt5 runs list | rxt5 runs reap     Dagster runs without Dagit; free the pool slots of killed runs
  rxt5 clean --dry-run                what old run folders and CTranslate2 caches would be deleted
"""


def _database(args: argparse.Namespace):
    from rxt5_assets.db import Database

    return Database(home=args.home)


def cmd_db_url(args: argparse.Namespace) -> int:
    from rxt5_assets.db.connection import ENV_DATABASE_URL, embedded_server, redact, resolve_database_url

    database = _database(args)
    show = redact if args.redacted else (lambda url: url)
    if database.is_embedded:
        # keep the embedded server up after this command exits, so the printed DSN stays usable
        embedded_server(args.home, keep_running=True)
        print(show(resolve_database_url(home=args.home)))
        print(f"(embedded server left running; `rxt5 db stop` stops it, or set {ENV_DATABASE_URL})", file=sys.stderr)
    else:
        print(show(database.url))
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    from rxt5_assets.db.status import database_status, format_status

    status = database_status(_database(args))
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from rxt5_assets.db import SCHEMA_VERSION

    applied = _database(args).migrate()
    if applied:
        print(f"applied migration(s) {', '.join(map(str, applied))}; schema is at version {SCHEMA_VERSION}")
    else:
        print(f"schema already at version {SCHEMA_VERSION}; nothing to do")
    return 0


def cmd_db_psql(args: argparse.Namespace) -> int:
    """psql on rxt5's database: the server's own psql when on PATH, else the one pgserver bundles. The password never
    reaches psql's command line (every local user can read that in `ps`): psql gets the other connection keywords as
    arguments and the password through a passfile only this user can read, deleted when psql exits."""
    import os
    import shutil
    import signal
    import subprocess
    import tempfile

    from rxt5_assets.db.connection import connection_parameters

    psql = shutil.which("psql")
    if psql is None:
        from pgserver.postgres_server import POSTGRES_BIN_PATH

        psql = str(POSTGRES_BIN_PATH / "psql")
    database = _database(args)
    params = connection_parameters(database.url)
    password = params.pop("password", None)
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    passfile = None
    if password:
        fd, passfile = tempfile.mkstemp(prefix="rxt5-pgpass-")  # mode 0600, by mkstemp
        with os.fdopen(fd, "w") as fh:
            escape = lambda v: v.replace("\\", "\\\\").replace(":", "\\:")  # noqa: E731
            fh.write(f"*:*:*:*:{escape(password)}\n")
        env["PGPASSFILE"] = passfile
    quote = lambda v: "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"  # noqa: E731 (libpq conninfo)
    conninfo = " ".join(f"{k}={quote(v)}" for k, v in params.items())
    previous_handler = signal.getsignal(signal.SIGINT)
    try:
        # this process stays while psql runs (the embedded server's user), and leaves like any other rxt5 command
        session = subprocess.Popen([psql, "--dbname", conninfo, *(["-c", args.command] if args.command else [])],
                                   env=env)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to psql (it cancels the running query)
        return session.wait()
    finally:
        # called in-process (tests, library users) the caller keeps its Ctrl-C, and so do the processes it starts
        signal.signal(signal.SIGINT, previous_handler)
        if passfile:
            os.unlink(passfile)


def cmd_db_stop(args: argparse.Namespace) -> int:
    from rxt5_assets.db.connection import embedded_server

    database = _database(args)
    if not database.is_embedded:
        print("RXT5_DATABASE_URL is set: rxt5 does not manage that server", file=sys.stderr)
        return 1
    # joining with cleanup_mode="stop" and leaving stops the server once no other process uses it
    embedded_server(args.home).cleanup()
    print(f"embedded server in {database.home / 'pgdata'} stopped (or still used by another process)")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from rxt5_assets.ingest import ingest_demo, ingest_path

    if not args.demo and not args.path:
        print("rxt5 ingest: give a checkout PATH, or --demo for the shipped corpus", file=sys.stderr)
        return 2
    if args.demo and args.path:
        print(f"rxt5 ingest: give either PATH ({args.path}) or --demo, not both (run the command twice to load "
              "both)", file=sys.stderr)
        return 2
    database = _database(args)
    database.migrate()
    progress = False if args.quiet else None
    if args.demo:
        report = ingest_demo(database, progress=progress)
    else:
        report = ingest_path(database, args.path, args.repo, progress=progress, include_dirs=tuple(args.include_dir))
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from rxt5_assets.pipeline import run_training_command

    return run_training_command(args)


def cmd_versions(args: argparse.Namespace) -> int:
    from rxt5_assets.evaluation.report import format_versions, versions_overview

    database = _database(args)
    database.migrate()
    with database.connect() as conn:
        rows = versions_overview(conn)
    print(json.dumps(rows, indent=2) if args.json else format_versions(rows))
    return 0


def _print_deployment(deployment, args: argparse.Namespace) -> None:
    from rxt5_assets.evaluation.promotion import fine_tuned_path

    state = "is now active" if deployment.changed else "was already active"
    print(f"{deployment.version} {state}{' (forced)' if deployment.forced else ''}")
    print(f"serving:  {fine_tuned_path(args.home)} -> {deployment.path}")


def cmd_deploy(args: argparse.Namespace) -> int:
    from rxt5_assets.evaluation.promotion import deploy

    database = _database(args)
    database.migrate()
    _print_deployment(deploy(database, args.version, home=args.home, force=args.force), args)
    return 0


def cmd_switch(args: argparse.Namespace) -> int:
    from rxt5_assets.evaluation.promotion import switch_to_base, switch_to_fine_tuned

    database = _database(args)
    database.migrate()
    switch = switch_to_base if args.base else switch_to_fine_tuned
    _print_deployment(switch(database, home=args.home), args)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from rxt5_assets.evaluation.promotion import rollback

    database = _database(args)
    database.migrate()
    _print_deployment(rollback(database, home=args.home), args)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import logging

    from rxt5_assets.evaluation.comparison import evaluate_versions
    from rxt5_assets.evaluation.promotion import GatePolicy, promote
    from rxt5_assets.evaluation.report import decision_md
    from rxt5_assets.evaluation.runner import EvaluationSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    database = _database(args)
    database.migrate()
    eval_file = args.eval_file
    dataset_session_id = None
    if eval_file is None:
        manifest = database.home / "datasets" / args.dataset / "manifest.json"
        if not manifest.is_file():
            print(f"rxt5 evaluate: {manifest} is missing: give --eval-file, or materialize training_dataset",
                  file=sys.stderr)
            return 2
        data = json.loads(manifest.read_text())
        eval_file, dataset_session_id = data["eval_file"], data["session_id"]
    settings = EvaluationSettings(max_rows=None if args.max_rows == 0 else args.max_rows, seed=args.seed, k=args.k,
                                  max_new_tokens=args.max_new_tokens, backend=args.backend)
    outcome = evaluate_versions(database, eval_file=eval_file, models_dir=args.models_dir or database.home / "models",
                                candidate=args.candidate, dataset_session_id=dataset_session_id, settings=settings,
                                policy=GatePolicy())
    print(decision_md(outcome.decision.as_dict(), candidate_name=outcome.candidate["version"],
                      active_name=outcome.active["version"]))
    print(f"\nevaluation {outcome.evaluation_id}: {len(outcome.rows)} of {outcome.rows_total} rows (seed "
          f"{settings.seed}, best-of-{settings.k}) in {outcome.seconds:.1f} s {outcome.timings}")
    if args.promote:
        _print_deployment(promote(database, outcome.candidate["id"], home=args.home,
                                  evaluation_id=outcome.evaluation_id), args)
    return 0 if outcome.passed else 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rxt5", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--home", default=None, metavar="DIR",
        help="where the embedded database, models and datasets live (default: $RXT5_HOME, else ./.rxt5)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db = commands.add_parser("db", help="the PostgreSQL database: url, status, migrate, stop",
                             description="Inspect and manage rxt5's PostgreSQL database.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    url = db_commands.add_parser("url", help="print the DSN in use (starts the embedded server and leaves it running)")
    url.add_argument("--redacted", action="store_true", help="replace the password with *** (for logs and tickets)")
    url.set_defaults(func=cmd_db_url)
    status = db_commands.add_parser("status", help="server, schema version and row counts")
    status.add_argument("--json", action="store_true", help="print machine-readable JSON")
    status.set_defaults(func=cmd_db_status)
    db_commands.add_parser("migrate", help="create or upgrade the schema (idempotent, safe from many processes)") \
        .set_defaults(func=cmd_db_migrate)
    db_commands.add_parser("stop", help="stop the embedded server if no other process uses it") \
        .set_defaults(func=cmd_db_stop)
    psql = db_commands.add_parser("psql", help="open psql on the database (plain SQL on the monitoring tables)")
    psql.add_argument("-c", "--command", help="run one SQL command and exit, e.g. the seed's monitoring queries")
    psql.set_defaults(func=cmd_db_psql)

    ingest = commands.add_parser(
        "ingest", help="cut a checkout's .rs/.ex/.exs files into item-level chunks in code_chunks",
        description=(
            "Walk a checkout (skipping .git, target/, _build/, deps/, node_modules/ and what .gitignore excludes), cut "
            "Rust and Elixir files into items with tree-sitter, and store new ones in code_chunks. Re-ingesting is a "
            "no-op; bad files are skipped and counted by reason."
        ),
    )
    ingest.add_argument("path", nargs="?", help="the checkout to ingest")
    ingest.add_argument("--repo", help="repo name stored with each chunk (default: the folder's name)")
    ingest.add_argument("--demo", action="store_true", help="ingest the shipped demo corpus instead of PATH")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    ingest.add_argument("--include-dir", action="append", default=[], metavar="NAME",
                        help="walk folders of this name although they are skipped by default or .gitignore'd (e.g. "
                             "--include-dir deps for an umbrella project whose apps live under deps/); repeatable")
    ingest.set_defaults(func=cmd_ingest)

    train = commands.add_parser(
        "train", help="fine-tune CodeT5+ (LoRA) on train.jsonl/eval.jsonl — the seed's training script",
        description=(
            "Fine-tune a CodeT5+ model with LoRA on a pair of JSONL files (one object a line with input, target, "
            "language, task, quality_score, source_id). Progress lands in t5_training_progress while it runs; the "
            "result is a PEFT adapter folder registered as a new, inactive row of t5_model_versions."
        ),
    )
    from rxt5_assets.training.cli import add_train_arguments  # argparse only: no torch at import

    add_train_arguments(train)
    train.set_defaults(func=cmd_train)

    versions = commands.add_parser(
        "versions", help="the model versions with their evaluation metrics, and which one is active",
        description=(
            "List t5_model_versions: status (trained → evaluated | rejected → active → retired), the latest "
            "evaluation's primary metric, strict validity and CodeBLEU (best-of-k), chrF (greedy), the gate's "
            "verdict and what it was compared to. `*` marks the active version; `base-…` rows are bare bases."
        ),
    )
    versions.add_argument("--json", action="store_true", help="print machine-readable JSON")
    versions.set_defaults(func=cmd_versions)

    deploy = commands.add_parser(
        "deploy", help="make VERSION the active version and serve it (the seed's deploy_model)",
        description=(
            "Make VERSION (a version name from `rxt5 versions`, or its id) the single active row of "
            "t5_model_versions and switch $RXT5_HOME/models/active to it, in one locked transaction with an atomic "
            "symlink swap. No evaluation is needed — an explicit operator choice — but a version the gate rejected "
            "needs --force. Recorded in t5_deployments (what `rxt5 rollback` walks back)."
        ),
    )
    deploy.add_argument("version", help="version name (e.g. v20261201-120000-000000) or id")
    deploy.add_argument("--force", action="store_true", help="deploy even a version the gate rejected")
    deploy.set_defaults(func=cmd_deploy)

    switch = commands.add_parser(
        "switch", help="serve the bare base (--base) or the fine-tuned version again (--fine-tuned)",
        description=(
            "The seed's switch_to_fine_tuned: --base activates the bare base the current version was trained on "
            "(its own `base-<fingerprint>` row, models/active then names the base); --fine-tuned activates the "
            "fine-tuned version that was active most recently (else the newest that passed the gate)."
        ),
    )
    which = switch.add_mutually_exclusive_group(required=True)
    which.add_argument("--base", action="store_true", help="serve the bare base model")
    which.add_argument("--fine-tuned", action="store_true", help="serve the fine-tuned version again")
    switch.set_defaults(func=cmd_switch)

    rollback = commands.add_parser(
        "rollback", help="go back to the version that was active before the current one",
        description=("Activate the version that was active before the current one was switched in (from "
                     "t5_deployments); repeated, it walks further back through the history."),
    )
    rollback.set_defaults(func=cmd_rollback)

    evaluate = commands.add_parser(
        "evaluate", help="evaluate the newest (or a given) version against the active one and the template floor",
        description=(
            "What the evaluation_metrics asset runs: greedy and best-of-k generation on the held-out split (sampled, "
            "stratified by language and task), scored per language and task, against the active version (the bare "
            "base when none is active) and the template floor; results land in t5_evaluations and "
            "t5_evaluation_results. Exit status 0 when the candidate passes the gate, 3 when it is refused."
        ),
    )
    evaluate.add_argument("--candidate", help="version name or id (default: the newest version of the dataset)")
    evaluate.add_argument("--eval-file", help="eval.jsonl (default: the dataset's, from its manifest)")
    evaluate.add_argument("--dataset", default="rust_elixir_v1", help="dataset name under $RXT5_HOME/datasets")
    evaluate.add_argument("--models-dir", help="where 'tiny' bases live (default: $RXT5_HOME/models)")
    evaluate.add_argument("--max-rows", type=int, default=400, help="rows sampled (0: every row)")
    evaluate.add_argument("--backend", choices=("auto", "transformers", "ctranslate2"), default="auto",
                          help="what decodes: auto = CTranslate2 fp32 on a CPU when installed (what `rxt5 serve` "
                               "runs; transformers' arithmetic, faster), else transformers")
    evaluate.add_argument("--k", type=int, default=8, help="best-of-k samples per row")
    evaluate.add_argument("--max-new-tokens", type=int, default=128, help="tokens generated per row")
    evaluate.add_argument("--seed", type=int, default=42, help="seed of the sample and of sampling")
    evaluate.add_argument("--promote", action="store_true", help="promote the candidate when it passes")
    evaluate.set_defaults(func=cmd_evaluate)

    from rxt5_assets.summary import add_summary_commands  # argparse only: nothing heavy at import

    add_summary_commands(commands)

    from rxt5_assets.generation.cli import add_generation_commands  # rxt5 generate, rxt5 serve

    add_generation_commands(commands)

    from rxt5_assets.retrieval.cli import add_retrieval_commands  # argparse only: no torch at import

    add_retrieval_commands(commands)

    from rxt5_assets.maintenance_cli import add_maintenance_commands  # rxt5 runs list|reap, rxt5 clean

    add_maintenance_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    from rxt5_assets.db.connection import secure_umask

    # pgserver's lock lives in the user runtime dir; platformdirs warns on every command when XDG_RUNTIME_DIR is unset
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    secure_umask()  # datasets, adapters and checkpoints of the org's code: readable by this user only
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(f"rxt5: {exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"rxt5: a file is not UTF-8 ({exc}); write it as UTF-8", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rxt5: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear one-line error for known failures, a traceback for bugs
        from rxt5_assets.errors import UserFacingError

        if isinstance(exc, UserFacingError):
            print(f"rxt5: {exc}", file=sys.stderr)
            return 1
        lost = _database_error(exc)
        if lost is not None:
            from rxt5_assets.db.connection import redact

            detail = " ".join(str(lost).split())[:300]
            print(f"rxt5: lost the connection to PostgreSQL ({type(lost).__name__}: {redact(detail)}): the server was "
                  "stopped, killed or is unreachable; start it again (the embedded one starts with the next rxt5 "
                  "command) and rerun — work already committed is kept", file=sys.stderr)
            return 1
        raise


def _database_error(exc: BaseException):
    """The psycopg OperationalError (server gone: AdminShutdown, connection refused, …) in exc's chain, if any."""
    import psycopg

    while exc is not None:
        if isinstance(exc, psycopg.OperationalError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
