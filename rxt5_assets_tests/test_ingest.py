"""Ingestion into a real PostgreSQL: idempotence, changed files, every bad-input case, the demo corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rxt5_assets.db import Database
from rxt5_assets.ingest import MAX_FILE_BYTES, demo_repositories, ingest_demo, ingest_path

RUST_LIB = '''\
use std::fmt;

/// A monetary amount in minor units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Money {
    pub cents: i64,
}

impl Money {
    /// Adds two amounts, failing on overflow.
    pub fn add(self, other: Money) -> Option<Money> {
        self.cents.checked_add(other.cents).map(|cents| Money { cents })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.cents / 100, self.cents % 100)
    }
}
'''

ELIXIR_LIB = '''\
defmodule Billing.Money do
  @moduledoc "Money in minor units."

  @doc "Adds two amounts."
  @spec add(integer(), integer()) :: {:ok, integer()}
  def add(a, b) when is_integer(a) and is_integer(b), do: {:ok, a + b}
end
'''


def stored(database: Database) -> list[tuple]:
    with database.connect() as conn:
        return conn.execute(
            "select content, language, file_path, repo, item_kind from code_chunks order by id"
        ).fetchall()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "service"
    (root / "src").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "src" / "money.rs").write_text(RUST_LIB)
    (root / "lib" / "money.ex").write_text(ELIXIR_LIB)
    (root / "README.md").write_text("not code")
    return root


def test_ingest_cuts_items_and_records_location(database: Database, checkout: Path):
    report = ingest_path(database, checkout, "billing", progress=False)
    rows = stored(database)
    assert report.files_seen == 2 and report.files_ingested == 2
    assert report.chunks_new == len(rows) >= 4
    kinds = {(language, kind) for _, language, _, _, kind in rows}
    assert ("rust", "struct") in kinds and ("elixir", "module") in kinds
    struct = next(content for content, _, _, _, kind in rows if kind == "struct")
    assert struct.startswith("/// A monetary amount") and "#[derive(" in struct  # docs and attributes travel along
    assert {(path, repo) for _, _, path, repo, _ in rows} == {("src/money.rs", "billing"), ("lib/money.ex", "billing")}


def test_reingesting_the_same_tree_adds_nothing(database: Database, checkout: Path):
    first = ingest_path(database, checkout, progress=False)
    second = ingest_path(database, checkout, progress=False)
    assert first.chunks_new > 0
    assert second.chunks_new == 0 and second.chunks_duplicate == first.chunks_new
    assert len(stored(database)) == first.chunks_new
    assert first.repo == "service"  # default repo name is the folder's


def test_a_changed_file_adds_only_its_new_chunks(database: Database, checkout: Path):
    first = ingest_path(database, checkout, progress=False)
    extra = "\n/// Subtracts.\npub fn subtract(a: i64, b: i64) -> i64 {\n    a - b\n}\n"
    (checkout / "src" / "money.rs").write_text(RUST_LIB + extra)
    second = ingest_path(database, checkout, progress=False)
    assert second.chunks_new == 1
    assert second.chunks_duplicate == first.chunks_new  # every earlier chunk is seen again, none stored twice
    assert any("fn subtract" in content for content, *_ in stored(database))


def test_skipped_folders_and_gitignore(database: Database, checkout: Path):
    for skipped in (".git", "target", "_build", "deps", "node_modules", "generated"):
        (checkout / skipped).mkdir()
        (checkout / skipped / "x.rs").write_text(RUST_LIB.replace("Money", "Skipped"))
    (checkout / ".gitignore").write_text("generated/\n*.bak.rs\n")
    (checkout / "src" / "old.bak.rs").write_text(RUST_LIB.replace("Money", "Old"))
    nested = checkout / "lib" / "vendor"
    nested.mkdir()
    (checkout / "lib" / ".gitignore").write_text("vendor/\n")
    (nested / "v.ex").write_text(ELIXIR_LIB.replace("Money", "Vendored"))
    report = ingest_path(database, checkout, progress=False)
    assert report.files_seen == 2
    contents = "".join(content for content, *_ in stored(database))
    assert "Skipped" not in contents and "Old" not in contents and "Vendored" not in contents
    # what was left out is said, with the source files each skipped folder holds (.git is not worth a line)
    assert report.skipped_dirs == {"target": ("skipped_name", 1), "_build": ("skipped_name", 1),
                                   "deps": ("skipped_name", 1), "node_modules": ("skipped_name", 1),
                                   "generated": ("gitignored", 1), "lib/vendor": ("gitignored", 1)}
    assert report.skipped_files["gitignored"] == 1  # src/old.bak.rs
    summary = report.summary()
    assert "folders skipped: " in summary and "deps/ (1 source file)" in summary
    assert "lib/vendor/ (1 source file, .gitignore)" in summary and "--include-dir" in summary
    listed = {entry["path"]: entry for entry in report.as_dict()["skipped_dirs"]}
    assert listed["deps"] == {"path": "deps", "reason": "skipped_name", "source_files": 1}


def test_an_umbrella_checkout_with_its_apps_under_deps(database: Database, tmp_path: Path):
    """First-party apps under deps/ (gitignored, as mix new does): 0 source files, and the summary says why."""
    root = tmp_path / "umbrella"
    for app in ("billing", "ledger"):
        (root / "deps" / app / "lib").mkdir(parents=True)
        (root / "deps" / app / "lib" / f"{app}.ex").write_text(ELIXIR_LIB.replace("Billing", app.title()))
        (root / "deps" / app / "_build").mkdir()
        (root / "deps" / app / "_build" / "gen.ex").write_text(ELIXIR_LIB.replace("Money", "Built"))
    (root / ".gitignore").write_text("/deps\n")
    report = ingest_path(database, root, progress=False)
    assert report.files_seen == 0 and report.skipped_dirs == {"deps": ("skipped_name", 4)}
    assert "4 source files are in skipped folders; to ingest them: --include-dir deps" in report.summary()

    included = ingest_path(database, root, progress=False, include_dirs=("deps",))  # also past the .gitignore
    assert included.files_seen == 2 and included.chunks_new > 0
    assert included.skipped_dirs == {"deps/billing/_build": ("skipped_name", 1),
                                     "deps/ledger/_build": ("skipped_name", 1)}
    assert {path for _, _, path, *_ in stored(database)} == {"deps/billing/lib/billing.ex",
                                                              "deps/ledger/lib/ledger.ex"}


def test_the_cli_lists_skipped_folders_and_includes_one(database: Database, tmp_path: Path, monkeypatch, capsys):
    import json

    from rxt5_assets.cli import main

    root = tmp_path / "checkout"
    (root / "deps" / "app").mkdir(parents=True)
    (root / "deps" / "app" / "app.ex").write_text(ELIXIR_LIB)
    monkeypatch.setenv("RXT5_DATABASE_URL", database.url)
    assert main(["ingest", str(root), "--quiet"]) == 0
    human = capsys.readouterr().out
    assert "0 source files seen" in human and "deps/ (1 source file)" in human
    assert main(["ingest", str(root), "--quiet", "--json", "--include-dir", "deps"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["files_ingested"] == 1 and as_json["skipped_dirs"] == []


def test_bad_input_is_skipped_and_counted_by_reason(database: Database, checkout: Path):
    ingest_path(database, checkout, progress=False)
    before = stored(database)
    bad = checkout / "bad"
    bad.mkdir()
    (bad / "latin1.rs").write_bytes("// caf\xe9\nfn main() {}\n".encode("latin-1"))
    (bad / "nul.ex").write_bytes(b"defmodule A do\n" + b"  def a, do: 1\n" * 1000 + b"\x00end\n")
    (bad / "binary.rs").write_bytes(b"\x7fELF\x00\x00\x01" + os.urandom(256))
    (bad / "huge.rs").write_text("// padding\n" * (MAX_FILE_BYTES // 11 + 10))
    (bad / "dangling.rs").symlink_to(bad / "missing.rs")
    (bad / "loop").symlink_to(checkout)  # a directory symlink back to the root
    os.mkfifo(bad / "pipe.ex")  # reading it would block forever
    (bad / "empty.rs").write_text("")
    report = ingest_path(database, checkout, progress=False)
    assert report.skipped_files == {
        "undecodable": 1, "nul_bytes": 1, "binary": 1, "too_large": 1, "unreadable": 1,
        "symlink_loop": 1, "not_a_regular_file": 1,
    }
    assert report.chunks_new == 0
    assert stored(database) == before  # nothing already stored is lost


def test_missing_path_is_a_clear_error(database: Database, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ingest_path(database, tmp_path / "nope", progress=False)
    (tmp_path / "file.rs").write_text("fn main() {}")
    with pytest.raises(NotADirectoryError):
        ingest_path(database, tmp_path / "file.rs", progress=False)


def test_demo_corpus_has_both_languages_in_several_repos(database: Database):
    repos = demo_repositories()
    assert len({p.parent.name for p in repos}) == 2 and len(repos) >= 4
    report = ingest_demo(database, progress=False)
    assert report.skipped_files == {}
    with database.connect() as conn:
        files = dict(conn.execute(
            "select language, count(distinct file_path) from code_chunks group by 1").fetchall())
        repo_count = conn.execute("select count(distinct repo) from code_chunks").fetchone()[0]
    assert files["rust"] >= 40 and files["elixir"] >= 40
    assert repo_count == len(repos)
    assert ingest_demo(database, progress=False).chunks_new == 0
