"""The per-chunk analysis, stored in PostgreSQL (`chunk_analyses`) keyed by (content hash, language, analyser version).

A materialization fetches the rows it must read (`fetch_rows`: every row on a first run, only new and changed ones when it
carries the previous run, see carry.py) left-joined with the stored analyses, and analyses only the chunks that have
none, so a retrain's preprocessing follows the new code, not the whole table; a chunk deleted from code_chunks is simply
no longer in the row list (`row_list`).

The analyser version of a language is not a number someone must remember to bump: it is a hash of the source of the
language's module, of the shared analysis code (tree-sitter helpers, the concept table, the analysis worker itself) and
of the installed tree-sitter grammar's version. Editing any of them gives new keys, and the old analyses are never read
again (`prune_stale` deletes them).

What is stored is exactly what the analysis worker returns, so a cached chunk and a freshly analysed one make the same
rows. Only the chunk's own language is stored: whether a chunk that fails to parse as its label is "wrong_language"
depends on the other languages' modules, so that decision is taken again on every run (for the few such chunks).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Iterator, Sequence

import polars as pl
import psycopg

from rxt5_assets import languages

ANALYSIS_FIELDS = ("failed", "kind", "name", "doc", "signature", "code_without_docs", "tests", "closing", "patterns",
                   "concepts", "names", "has_syntax_error", "letter_share", "indicators")
_PACKAGE = Path(__file__).resolve().parents[1]
# analysis code every language shares: a change here changes every language's version
SHARED_SOURCES = ("languages/base.py", "languages/_ts.py", "languages/concepts.py", "languages/__init__.py",
                  "data/preprocess.py", "data/quality.py", "data/analysis_cache.py")


def _grammar_version(module) -> str:
    """The tree-sitter grammar package the module parses with (tree_sitter_rust, tree_sitter_elixir), if any."""
    source = inspect.getsource(inspect.getmodule(type(module)) or type(module))
    versions = [f"tree-sitter=={metadata.version('tree-sitter')}"]
    for package in sorted(set(part.split(".")[0] for part in source.split() if part.startswith("tree_sitter"))):
        try:
            versions.append(f"{package}=={metadata.version(package.replace('_', '-'))}")
        except metadata.PackageNotFoundError:
            continue
    return ",".join(versions)


def analyser_version(language: str) -> str:
    """A hash of everything the analysis of `language` depends on (see the module doc)."""
    module = languages.get(language)
    return _version_of(type(module), language, _grammar_version(module))


@lru_cache(maxsize=None)
def _version_of(module_type: type, language: str, grammar: str) -> str:
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{language}\0{grammar}\0".encode())
    own = inspect.getsourcefile(module_type)
    for path in [own, *(str(_PACKAGE / relative) for relative in SHARED_SOURCES)]:
        if path and Path(path).exists():
            digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def analyser_versions(names: Sequence[str]) -> dict[str, str]:
    known = set(languages.names())
    return {name: analyser_version(name) for name in names if name in known}


def store_analyses(conn: psycopg.Connection, rows: list[tuple]) -> int:
    """Store (content_hash, language, analyser_version, *ANALYSIS_FIELDS) rows; rows already stored (by a concurrent
    run, say) are left as they are. One statement in key order, so two runs storing overlapping keys never deadlock."""
    if not rows:
        return 0
    columns = ("content_hash", "language", "analyser_version", *ANALYSIS_FIELDS)
    conn.execute(f"create temp table if not exists rxt5_analysis_staging (like chunk_analyses including defaults)")
    conn.execute("truncate rxt5_analysis_staging")
    with conn.cursor().copy(f"copy rxt5_analysis_staging ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)
    inserted = conn.execute(
        f"""insert into chunk_analyses ({', '.join(columns)})
            select distinct on (content_hash, language, analyser_version) {', '.join(columns)}
            from rxt5_analysis_staging order by content_hash, language, analyser_version
            on conflict do nothing"""
    ).rowcount
    return inserted


def cache_row(content_hash: str, language: str, version: str, result: tuple | None) -> tuple:
    """The stored form of one worker result (`preprocess._analyze`; None: the chunk failed its own language)."""
    if result is None:
        return (content_hash, language, version, True, *([None] * (len(ANALYSIS_FIELDS) - 1)))
    return (content_hash, language, version, False, *result[:-1], json.dumps(result[-1]))


def cached_result(stored: tuple) -> tuple | None:
    """The worker result back from the stored fields (ANALYSIS_FIELDS, `failed` first); None for a failed chunk."""
    if stored[0]:
        return None
    return (*stored[1:-1], json.loads(stored[-1]))


def prune_stale(conn: psycopg.Connection) -> int:
    """Delete analyses of analyser versions no longer current (a language module changed since)."""
    current = analyser_versions(languages.names())
    return conn.execute(
        "delete from chunk_analyses a where not exists (select 1 from unnest(%s::text[], %s::text[]) as v(l, ver) "
        "where v.l = a.language and v.ver = a.analyser_version)", (list(current), list(current.values()))
    ).rowcount


@contextmanager
def snapshot_reader(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A read-only connection to the same database in one REPEATABLE READ transaction: every query of a stage's
    reading sees the same snapshot (the row list and the rows fetched later by id agree)."""
    reader = psycopg.connect(conn.info.dsn, password=conn.info.password)
    try:
        reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        reader.read_only = True
        yield reader
    finally:
        reader.rollback()
        reader.close()


ROW_LIST_SCHEMA = {"id": pl.Int64, "content_hash": pl.String, "language": pl.String, "file_path": pl.String,
                   "repo": pl.String, "bytes": pl.Int64}


def row_list(conn: psycopg.Connection, max_id: int | None) -> pl.DataFrame:
    """Every code_chunks row's identity without its content — id, content_hash, language, file_path, repo and the
    content's size in bytes (octet_length reads a TOASTed value's size from its header; length() in characters
    decompresses every row: 0.8 s instead of 0.3 s for 200k rows) — in id order, through COPY … (FORMAT csv) read
    by polars (an unquoted empty field is NULL, a quoted "" an empty string)."""
    where = f"where id <= {int(max_id)}" if max_id is not None else ""
    query = (f"copy (select id, content_hash, language, file_path, repo, octet_length(content) from code_chunks "
             f"{where} order by id) to stdout (format csv)")
    with conn.cursor().copy(query) as copy:
        data = b"".join(bytes(block) for block in copy)
    if not data:
        return pl.DataFrame(schema=ROW_LIST_SCHEMA)
    return pl.read_csv(data, has_header=False, schema=ROW_LIST_SCHEMA)


def fetch_rows(conn: psycopg.Connection, versions: dict[str, str], ids: Sequence[int]) -> list[tuple]:
    """The rows `ids` (id order) as (id, content, language, file_path, repo, content_hash, *ANALYSIS_FIELDS), the
    analysis fields those stored for `versions` (null where none is stored)."""
    if not len(ids):
        return []
    query = f"""
        select c.id, c.content, c.language, c.file_path, c.repo, c.content_hash,
               {', '.join(f'a.{field}' for field in ANALYSIS_FIELDS)}
        from code_chunks c
        left join unnest(%s::text[], %s::text[]) as v(language, version) on v.language = c.language
        left join chunk_analyses a
               on a.content_hash = c.content_hash and a.language = c.language and a.analyser_version = v.version
        where c.id = any(%s::bigint[])
        order by c.id"""
    return conn.execute(query, (list(versions), list(versions.values()), [int(i) for i in ids])).fetchall()
