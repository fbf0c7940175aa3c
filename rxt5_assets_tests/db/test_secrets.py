"""Issue 9, secrets: every DSN form redacted, `rxt5 db url --redacted`, psql never sees the password on its argv."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from rxt5_assets.cli import main
from rxt5_assets.db import Database
from rxt5_assets.db.connection import connection_parameters, redact

SECRET = "S3cr:et p@ss'x"


@pytest.mark.parametrize("dsn", [
    "postgresql://alice:hunter2@db.example:5432/rxt5",
    "postgres://alice:hunter2@/rxt5?host=/tmp/sock",
    "postgresql+psycopg2://alice:hunter2@db/rxt5",
    "postgresql://db.example/rxt5?user=alice&password=hunter2&sslmode=require",
    "postgresql://db.example/rxt5?sslmode=require&PASSWORD=hunter2",
    "host=db.example dbname=rxt5 user=alice password=hunter2",
    "host=db.example password = hunter2 dbname=rxt5",
    "host=db.example password='hunter2 with spaces' dbname=rxt5",
    r"host=db.example password='hun\'ter2' dbname=rxt5",
    "PGPASSWORD=hunter2 psql -h db.example",
    "cannot connect to PostgreSQL at host=db password=hunter2: connection refused",
])
def test_every_dsn_form_is_redacted(dsn):
    out = redact(dsn)
    assert "hunter2" not in out and "ter2" not in out and "***" in out
    assert "db" in out or "sock" in out  # the rest stays readable


def test_redact_leaves_dsns_without_a_password_alone():
    for dsn in ("postgresql://postgres:@/rxt5?host=/tmp/x", "host=db dbname=rxt5 user=alice", ""):
        assert redact(dsn) == dsn


def _role_url(database: Database) -> str:
    """The test database's URL with a role that has a password (the embedded server trusts its socket, so the
    password is not checked, but it is in the DSN like a production one)."""
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("drop role if exists rxt5_secret_test")
        conn.execute("create role rxt5_secret_test login superuser password 'x'")
    parts = urlsplit(database.url)
    from urllib.parse import quote

    return parts._replace(netloc=f"rxt5_secret_test:{quote(SECRET, safe='')}@{parts.hostname or ''}").geturl()


def test_db_url_redacted_and_psql_gets_the_password_from_a_private_passfile(database: Database, tmp_path,
                                                                             monkeypatch, capsys):
    url = _role_url(database)
    assert connection_parameters(url)["password"] == SECRET
    monkeypatch.setenv("RXT5_DATABASE_URL", url)
    assert main(["--home", str(tmp_path), "db", "url", "--redacted"]) == 0
    printed = capsys.readouterr().out.strip()
    assert SECRET not in printed and "rxt5_secret_test:***@" in printed
    assert main(["--home", str(tmp_path), "db", "url"]) == 0 and capsys.readouterr().out.strip() == url

    # a psql on PATH that records what it was given, then runs the real one
    from pgserver.postgres_server import POSTGRES_BIN_PATH

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record"
    wrapper = bin_dir / "psql"
    wrapper.write_text(f"""#!{sys.executable}
import os, stat, sys
passfile = os.environ.get("PGPASSFILE", "")
mode = oct(stat.S_IMODE(os.stat(passfile).st_mode)) if passfile else "none"
content = open(passfile).read() if passfile else ""
open({str(record)!r}, "w").write(repr((sys.argv, mode, content, os.environ.get("PGPASSWORD"))))
os.execv({str(POSTGRES_BIN_PATH / 'psql')!r}, [{str(POSTGRES_BIN_PATH / 'psql')!r}, *sys.argv[1:]])
""")
    wrapper.chmod(0o700)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PGPASSWORD", "inherited-must-not-leak")
    assert main(["--home", str(tmp_path), "db", "psql", "-c", "select current_user"]) == 0
    argv, mode, content, env_password = eval(record.read_text())
    assert not any(SECRET in arg or "S3cr" in arg for arg in argv)
    assert "user='rxt5_secret_test'" in " ".join(argv)
    assert mode == oct(stat.S_IRUSR | stat.S_IWUSR)  # 0600
    assert content.strip() == r"*:*:*:*:S3cr\:et p@ss'x" and env_password is None
    import tempfile

    passfile_dir = Path(tempfile.gettempdir())
    assert not list(passfile_dir.glob("rxt5-pgpass-*"))  # deleted after psql exits
