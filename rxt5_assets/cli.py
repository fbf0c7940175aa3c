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
"""


def _database(args: argparse.Namespace):
    from rxt5_assets.db import Database

    return Database(home=args.home)


def cmd_db_url(args: argparse.Namespace) -> int:
    from rxt5_assets.db.connection import ENV_DATABASE_URL, embedded_server, resolve_database_url

    database = _database(args)
    if database.is_embedded:
        # keep the embedded server up after this command exits, so the printed DSN stays usable
        embedded_server(args.home, keep_running=True)
        print(resolve_database_url(home=args.home))
        print(f"(embedded server left running; `rxt5 db stop` stops it, or set {ENV_DATABASE_URL})", file=sys.stderr)
    else:
        print(database.url)
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
    """psql on rxt5's database: the server's own psql when on PATH, else the one pgserver bundles."""
    import shutil
    import signal
    import subprocess

    from pgserver.postgres_server import POSTGRES_BIN_PATH

    psql = shutil.which("psql") or str(POSTGRES_BIN_PATH / "psql")
    database = _database(args)
    # this process stays while psql runs (the embedded server's user), and leaves like any other rxt5 command
    session = subprocess.Popen([psql, database.url, *(["-c", args.command] if args.command else [])])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to psql (it cancels the running query)
    return session.wait()


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
    database = _database(args)
    database.migrate()
    progress = False if args.quiet else None
    if args.demo:
        report = ingest_demo(database, progress=progress)
    else:
        report = ingest_path(database, args.path, args.repo, progress=progress)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from rxt5_assets.pipeline import run_training_command

    return run_training_command(args)


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
    db_commands.add_parser("url", help="print the DSN in use (starts the embedded server and leaves it running)") \
        .set_defaults(func=cmd_db_url)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(f"rxt5: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rxt5: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear one-line error for known failures, a traceback for bugs
        from rxt5_assets.errors import UserFacingError

        if isinstance(exc, UserFacingError):
            print(f"rxt5: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
