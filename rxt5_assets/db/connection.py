"""Where the database is and how to connect to it.

`RXT5_DATABASE_URL` set: that PostgreSQL server is used as is. Unset: an embedded, real PostgreSQL (pgserver) is started or
reused in `$RXT5_HOME/pgdata` (default `.rxt5/` in the working directory). pgserver reference-counts the processes that use a
data folder under an inter-process lock, so Dagit, the daemon, run workers and the CLI can all share it; the server stops
when the last of them exits and the data persists across restarts.

Everything is resolved when called, never at import time.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from rxt5_assets.errors import UserFacingError

ENV_DATABASE_URL = "RXT5_DATABASE_URL"
ENV_DAGSTER_DATABASE_URL = "RXT5_DAGSTER_DATABASE_URL"
ENV_HOME = "RXT5_HOME"
EMBEDDED_DATABASE = "rxt5"
EMBEDDED_DAGSTER_DATABASE = "dagster"

_lock = threading.Lock()
_servers: dict[Path, object] = {}


class DatabaseError(UserFacingError):
    """The database could not be reached or prepared; the message says what to check."""


def rxt5_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the embedded database, models and datasets (`RXT5_HOME`, default `./.rxt5`)."""
    chosen = home or os.environ.get(ENV_HOME) or Path.cwd() / ".rxt5"
    return Path(chosen).expanduser().resolve()


def embedded_server(home: str | os.PathLike[str] | None = None, *, keep_running: bool = False):
    """Start (or join) the embedded PostgreSQL server for `home` and return its pgserver handle.

    By default the server stops when the last process using it exits; `keep_running` leaves it up (for `rxt5 db url`).
    """
    import warnings

    # pgserver keeps its inter-process lock in the user runtime dir; platformdirs warns when XDG_RUNTIME_DIR is unset
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver  # imported lazily: only the embedded default needs it

    import logging

    # pgserver logs every pg_ctl call at INFO: noise around rxt5's own output (its errors still show)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    pgdata = rxt5_home(home) / "pgdata"
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            # private by default; as root pgserver itself opens the folders above pgdata for its `pgserver` user
            pgdata.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _forget_dead_users(pgdata)
            try:
                server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
            except Exception as exc:  # pgserver raises CalledProcessError/TimeoutExpired with the log path
                raise DatabaseError(
                    f"could not start the embedded PostgreSQL in {pgdata}: {exc}. "
                    f"See {pgdata / 'log'}; or set {ENV_DATABASE_URL} to use another server."
                ) from exc
            _quiet_exit_cleanup(server)
            _servers[pgdata] = server
    return server


def _quiet_exit_cleanup(server) -> None:
    """pgserver leaves the server at exit from an atexit hook that raises (psutil.NoSuchProcess, a traceback after
    rxt5's own one-line error) when the postmaster was killed meanwhile; run the same hook, without the traceback."""
    import atexit

    hook = getattr(server, "_cleanup", None)
    if hook is None:
        return
    atexit.unregister(hook)

    def cleanup() -> None:
        try:
            hook()
        except Exception:  # the server is already gone: nothing to stop
            pass

    atexit.register(cleanup)
    server.cleanup = cleanup  # `rxt5 db stop` leaves the same way


def _forget_dead_users(pgdata: Path) -> None:
    """Drop processes that died without leaving (killed, or replaced by exec) from pgserver's list of the server's
    users; otherwise the server counts them forever and never stops when its last live user leaves."""
    import json

    def exists(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, under another user
            return True
        return True

    users = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(users.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if exists(pid)]
    if alive != pids:
        users.write_text(json.dumps(alive))


def ensure_database(server, name: str) -> None:
    """CREATE DATABASE `name` on the embedded server unless it exists (safe when processes race)."""
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if exists:
            return
        try:
            conn.execute(f'create database "{name}"')
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another process created it first


def resolve_database_url(database_url: str | None = None, home: str | os.PathLike[str] | None = None) -> str:
    """The DSN of rxt5's database: the explicit URL, else `RXT5_DATABASE_URL`, else the embedded server."""
    url = database_url or os.environ.get(ENV_DATABASE_URL)
    if url:
        return url
    server = embedded_server(home)
    ensure_database(server, EMBEDDED_DATABASE)
    return server.get_uri(EMBEDDED_DATABASE)


def dagster_storage_url(home: str | os.PathLike[str] | None = None) -> str:
    """The SQLAlchemy URL for Dagster's run/event storage, on the same server as rxt5's tables.

    Embedded: a separate `dagster` database. External: `RXT5_DAGSTER_DATABASE_URL`, else the rxt5 database itself.
    Always with the psycopg2 driver: SQLAlchemy 2.1 maps plain `postgresql://` to psycopg 3, which dagster-postgres'
    event log cannot use (see STACK.md).
    """
    url = os.environ.get(ENV_DAGSTER_DATABASE_URL) or os.environ.get(ENV_DATABASE_URL)
    if not url:
        server = embedded_server(home)
        ensure_database(server, EMBEDDED_DAGSTER_DATABASE)
        url = server.get_uri(EMBEDDED_DAGSTER_DATABASE)
    parts = urlsplit(url)
    scheme = "postgresql+psycopg2" if parts.scheme in ("postgres", "postgresql", "postgresql+psycopg") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)([^@\s/]+)(@)", re.IGNORECASE)
# keyword DSNs (`host=db password=s3cret`, quoted `password='a b\'c'`), URL queries (`?password=…&`), PGPASSWORD=
_KEYWORD_PASSWORD = re.compile(r"""(\b(?:pg)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&'#]+)""", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` (a DSN in any form, or a message holding one) with every password replaced by ***: URL userinfo
    (`user:pass@`), URL query (`?password=`), keyword DSNs (`password=…`, quoted or not) and `PGPASSWORD=…`."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}***{m.group(3)}", str(text))
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m.group(1)}***", text)


def connection_parameters(url: str) -> dict[str, str]:
    """The DSN's parts as libpq keywords (user, host, dbname, password, …), for giving psql everything but the
    password on its command line."""
    from psycopg.conninfo import conninfo_to_dict

    return {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}


def secure_umask() -> None:
    """Files rxt5 writes (datasets of the org's code, adapters, checkpoints) are private to the user: umask 077, set
    by the CLI and by the Dagster resources before they write anything."""
    os.umask(0o077)


class Database:
    """rxt5's PostgreSQL: resolves the server lazily and hands out psycopg 3 connections."""

    def __init__(self, database_url: str | None = None, home: str | os.PathLike[str] | None = None):
        self._database_url = database_url
        self._home = home
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = resolve_database_url(self._database_url, self._home)
        return self._url

    @property
    def is_embedded(self) -> bool:
        return not (self._database_url or os.environ.get(ENV_DATABASE_URL))

    @property
    def home(self) -> Path:
        return rxt5_home(self._home)

    def connect(self, autocommit: bool = False) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=autocommit)
        except psycopg.OperationalError as exc:
            detail = redact(" ".join(str(exc).split()))  # one line: psycopg's messages span several
            raise DatabaseError(f"cannot connect to PostgreSQL at {redact(self.url)}: {detail}") from exc

    def migrate(self) -> list[int]:
        from rxt5_assets.db.migrations import migrate

        with self.connect() as conn:
            return migrate(conn)
