"""Shared fixtures: one real PostgreSQL server per test session, a fresh database per test.

The server is the embedded one (pgserver) in a temporary RXT5_HOME, or the server of RXT5_DATABASE_URL when that is set
(each test then gets its own database created on it). No test touches the developer's ./.rxt5.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from rxt5_assets.db import Database


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def rxt5_test_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("rxt5-home")
    os.environ["RXT5_HOME"] = str(home)
    os.environ.setdefault("HF_HOME", str(home / "hf"))
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing downloads in tests
    return home


@pytest.fixture(scope="session")
def admin_url(rxt5_test_home) -> str:
    """A DSN with rights to create databases."""
    external = os.environ.get("RXT5_DATABASE_URL")
    if external:
        return external
    from rxt5_assets.db.connection import embedded_server

    return embedded_server(rxt5_test_home).get_uri("postgres")


@pytest.fixture
def database_url(admin_url) -> str:
    name = f"rxt5_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    yield _with_database(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def empty_database(database_url) -> Database:
    """A fresh database with no schema."""
    return Database(database_url)


@pytest.fixture
def database(empty_database) -> Database:
    """A fresh, migrated database."""
    empty_database.migrate()
    return empty_database


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_python_after_each_test():
    """Every test leaves Ctrl-C as Python handles it. Something in the suite (a library's C code: Python's
    signal.getsignal did not see it) left SIGINT ignored at the OS level, and every process a later test started
    inherited that: `rxt5 evaluate` could not be interrupted, and a step worker's stop-on-parent-death
    (`_thread.interrupt_main`, a no-op while SIGINT is ignored) never raised."""
    import signal
    import threading

    yield
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
