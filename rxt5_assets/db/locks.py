"""One trainer per training session and per run folder.

A trainer holds, for the whole training:

* a **session-level PostgreSQL advisory lock** keyed by its session id, on a connection of its own. The server releases
  it when that connection ends, however the trainer ends: a SIGKILLed or crashed trainer, a lost machine (once TCP
  notices) — so "a `training` session whose lock is free" means "its trainer is gone", which is how stale sessions are
  found (`mark_stale_sessions`, run by every new training and by `rxt5 db status`);
* an **exclusive `flock`** on `<run folder>/.rxt5-train.lock`, so two trainings of different sessions never share a
  folder either (the kernel drops it when the process dies).

A second trainer on a held session or folder fails at once with a message naming the holder (pid, host, since when),
or waits for it (`wait=True`). The lock key is `(TRAINING_LOCK_CLASS, hashtext(session id))`, the two-int form, so
`pg_locks` shows it as classid/objid and the stale check needs no lock of its own.

Not covered: a connection pooler in transaction mode (PgBouncer) does not keep session-level advisory locks — point
RXT5_DATABASE_URL at the server or a session-mode pool; a run folder on a network file system where `flock` is not
shared between hosts (the session lock still is).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

import psycopg

from rxt5_assets.errors import UserFacingError

TRAINING_LOCK_CLASS = 0x7278_3574  # classid of every training lock: "rx5t"
FOLDER_LOCK_FILE = ".rxt5-train.lock"
APPLICATION_PREFIX = "rxt5-train"

STALE_ERROR = ("interrupted: its trainer stopped without finishing (killed, crashed, or the database went away); "
               "rerun with --resume (or re-materialize lora_adapter) to continue from the last checkpoint")


class TrainingBusyError(UserFacingError):
    """Another trainer holds this session or this run folder."""


def _holder(conn: psycopg.Connection, session_id: str) -> str:
    """Who holds the session lock, from pg_stat_activity (the trainer names itself in application_name)."""
    row = conn.execute(
        """select a.application_name, a.client_addr::text, a.backend_start
             from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.locktype = 'advisory' and l.granted and l.classid = %s::int4::oid
              and l.objid = hashtext(%s)::oid and l.objsubid = 2
              and l.database = (select oid from pg_database where datname = current_database())""",
        (TRAINING_LOCK_CLASS, session_id)).fetchone()
    if row is None:
        return "another trainer"
    name, addr, since = row
    who = name if name and name.startswith(APPLICATION_PREFIX) else f"backend of {name or 'an unnamed client'}"
    return f"{who}{f' from {addr}' if addr else ''}, since {since:%Y-%m-%d %H:%M:%S %Z}".strip()


class TrainingLock:
    """Hold the session's advisory lock and the run folder's file lock (see the module doc).

    `acquire_folder()` first (before any session row exists, so a refused trainer inserts nothing), then
    `acquire_session(id)` once the session is known, or `create_session_locked(...)` to insert a new session and lock
    it in one transaction (no other process ever sees it `training` and unlocked). `release()` frees both.
    """

    def __init__(self, url: str, output_dir: Path, *, wait: bool = False, poll_seconds: float = 1.0):
        self.url = url
        self.output_dir = Path(output_dir)
        self.wait = wait
        self.poll_seconds = poll_seconds
        self._fd: int | None = None
        self._conn: psycopg.Connection | None = None
        self.session_id: str | None = None

    # -- the run folder ----------------------------------------------------------------------------------------------
    def acquire_folder(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / FOLDER_LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = ""
            try:
                holder = os.read(fd, 200).decode(errors="replace").strip()
            except OSError:
                pass
            os.close(fd)
            raise TrainingBusyError(
                f"{self.output_dir} is being trained into by another process ({holder or 'pid unknown'}): wait for it "
                "to finish (or stop it), choose another --output-dir, or pass --wait-for-lock to queue behind it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd

    # -- the session -------------------------------------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection:
        if self._conn is None:
            name = f"{APPLICATION_PREFIX} pid {os.getpid()} on {socket.gethostname()}"[:63]
            self._conn = psycopg.connect(self.url, autocommit=True, application_name=name)
        return self._conn

    def _try(self, conn: psycopg.Connection, session_id: str) -> bool:
        return bool(conn.execute("select pg_try_advisory_lock(%s::int4, hashtext(%s))",
                                 (TRAINING_LOCK_CLASS, session_id)).fetchone()[0])

    def acquire_session(self, session_id: str) -> None:
        conn = self._connection()
        while not self._try(conn, session_id):
            if not self.wait:
                raise TrainingBusyError(
                    f"training session {session_id} is being trained by {_holder(conn, session_id)}: wait for it to "
                    "finish (or stop that process), or pass --wait-for-lock (training.wait_for_lock) to queue behind "
                    "it")
            time.sleep(self.poll_seconds)
        self.session_id = session_id

    def create_session_locked(self, create) -> str:
        """Run `create(conn)` (which inserts a session and returns its id) in a transaction that also takes the
        session's lock before committing."""
        conn = self._connection()
        with conn.transaction():
            session_id = create(conn)
            if not self._try(conn, session_id):  # a hashtext collision with a live session: ~2^-32
                raise TrainingBusyError(f"the lock of new session {session_id} is taken; retry")
        self.session_id = session_id
        return session_id

    @property
    def connection(self) -> psycopg.Connection:
        return self._connection()

    def release(self) -> None:
        if self._conn is not None:
            try:
                if self.session_id is not None and not self._conn.closed:
                    self._conn.execute("select pg_advisory_unlock(%s::int4, hashtext(%s))",
                                       (TRAINING_LOCK_CLASS, self.session_id))
            except psycopg.Error:
                pass  # the connection is gone, and the lock with it
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "TrainingLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def mark_stale_sessions(conn: psycopg.Connection) -> list[str]:
    """Mark every `training` session whose trainer is gone (its advisory lock is free) `interrupted`; returns their
    ids. Safe to run any time: a live trainer holds its lock from before its session reads `training` until after
    it reads `completed` / `failed` / `interrupted`."""
    present = conn.execute("select to_regclass('t5_training_sessions') is not null").fetchone()[0]
    if not present:
        return []
    rows = conn.execute(
        """update t5_training_sessions s set status = 'interrupted', error = %s, updated_at = now()
            where s.status = 'training' and not exists (
                select 1 from pg_locks l
                 where l.locktype = 'advisory' and l.granted and l.classid = %s::int4::oid
                   and l.objid = hashtext(s.id::text)::oid and l.objsubid = 2
                   and l.database = (select oid from pg_database where datname = current_database()))
        returning id::text""",
        (STALE_ERROR, TRAINING_LOCK_CLASS)).fetchall()
    if not conn.autocommit:
        conn.commit()
    return [r[0] for r in rows]
