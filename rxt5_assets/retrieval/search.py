"""Retrieve the chunks of one repo that best match a query: full-text, vector, or both fused by reciprocal rank.

* **fts**: `code_chunks.search_tsv` (migration 5: a generated column, so every writer of code_chunks keeps it current;
  GIN index) over the item name (weight A), file path (B) and content, identifiers split into words and the `simple`
  configuration (no stemming of code tokens). The query is cut into words the same way (`rxt5_code_words`), English
  function words dropped, and OR-ed; ranked by `ts_rank_cd` (cover density, length-normalised: rank / (1 + log length)).
* **vector**: cosine distance (`<=>`) between the query's and the chunks' mean-pooled encoder states (embeddings.py),
  exact scan within the repo's chunks; missing embeddings of the repo are computed first (cheap when there are none).
* **hybrid**: reciprocal rank fusion of the two lists, score Σ 1 / (60 + rank), at most 2 hits per file (Tabby).

The default is `fts`, by measurement (bench/bench_retrieval.py; README). Test code is left out unless asked for.
Results are only ever chunks of `repo` and `language` that exist now (deleted chunks take their embeddings with them).
When pgvector is unavailable, `vector` and `hybrid` fall back to `fts` and say so in the log and in each hit's `method`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import psycopg

from rxt5_assets.errors import UserFacingError

log = logging.getLogger(__name__)

METHODS = ("fts", "vector", "hybrid")
# chosen by bench/bench_retrieval.py on the demo corpus: full-text search beats the demo encoder's embeddings and their
# fusion in every situation measured (the tiny demo base was never trained to embed; a larger encoder may change this)
DEFAULT_METHOD = "fts"
RRF_CONSTANT = 60
PER_FILE_CAP = 2
CANDIDATES = 50  # each retriever's list length before fusion

# words of a description that say nothing about which code is meant (the `simple` configuration has no stop words)
STOP_WORDS = frozenset("""
a an the and or but if then else of to in on at by for with from into onto as is are was were be been being it its this
that these those there here which who whom whose what when where why how all any each every no not only own same so
than too very can will just should would could may might must shall do does did done has have had having i me my we our
you your he she they them their his her us one also such via per out up down over under about after before again
further once e g eg ie etc returns return given get gets
""".split())


class RetrievalError(UserFacingError):
    """Retrieval cannot run as asked (unknown method, no chunks for the repo)."""


class NoChunksError(RetrievalError):
    """The repo has no chunks (of the language) in code_chunks: nothing to retrieve from."""


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: int
    repo: str
    file_path: str
    name: str | None
    kind: str | None
    content: str
    score: float
    method: str  # the retriever that produced it: fts | vector | hybrid (fts when a vector method fell back)
    language: str = ""
    start_line: int | None = None
    end_line: int | None = None
    ranks: tuple[tuple[str, int], ...] = field(default=())  # hybrid: (retriever, 1-based rank) of each list it was in

    def as_dict(self) -> dict:
        return {"chunk_id": self.chunk_id, "repo": self.repo, "file_path": self.file_path, "name": self.name,
                "kind": self.kind, "language": self.language, "score": self.score, "method": self.method,
                "start_line": self.start_line, "end_line": self.end_line, "content": self.content}


_COLUMNS = "c.id, c.repo, c.file_path, c.item_name, c.item_kind, c.content, c.language, c.start_line, c.end_line"


def _chunk(row: Sequence[Any], score: float, method: str) -> RetrievedChunk:
    chunk_id, repo, file_path, name, kind, content, language, start, end = row
    return RetrievedChunk(chunk_id=chunk_id, repo=repo, file_path=file_path, name=name, kind=kind, content=content,
                          score=float(score), method=method, language=language, start_line=start, end_line=end)


# test code: a Rust `#[cfg(test)]` module, a file under test/ or tests/, an ExUnit `*_test.exs`
TEST_CHUNK_SQL = r"(c.item_kind = 'test_module' or c.file_path ~ '(^|/)tests?/|_test\.exs?$')"


def _filters(repo: str, language: str, exclude_chunk_ids: Iterable[int], exclude_files: Iterable[str],
             include_tests: bool = False):
    clauses = ["c.repo = %s", "c.language = %s", "c.content is not null"]
    if not include_tests:
        clauses.append(f"not coalesce({TEST_CHUNK_SQL}, false)")
    params: list[Any] = [repo, language]
    ids = [int(i) for i in exclude_chunk_ids]
    if ids:
        clauses.append("not (c.id = any(%s))")
        params.append(ids)
    files = list(exclude_files)
    if files:
        clauses.append("not (c.file_path = any(%s))")
        params.append(files)
    return " and ".join(clauses), params


def query_words(conn: psycopg.Connection, query: str) -> list[str]:
    """The query as the index sees it: identifiers split, lower-cased, function words dropped, first-seen order."""
    lexemes = conn.execute(
        "select lexeme from unnest(to_tsvector('simple', rxt5_code_words(%s))) order by positions[1]",
        (query,)).fetchall()
    return [word for (word,) in lexemes if word not in STOP_WORDS and (len(word) > 1 or word.isdigit())]


def fts_search(conn: psycopg.Connection, query: str, *, repo: str, language: str, limit: int = CANDIDATES,
               exclude_chunk_ids: Iterable[int] = (), exclude_files: Iterable[str] = (),
               include_tests: bool = False) -> list[RetrievedChunk]:
    words = query_words(conn, query)
    if not words:
        return []
    where, params = _filters(repo, language, exclude_chunk_ids, exclude_files, include_tests)
    tsquery = " | ".join(words)  # lexemes are [[:alnum:]]+ only: nothing to quote
    rows = conn.execute(
        f"""select {_COLUMNS}, ts_rank_cd(c.search_tsv, q, 1) as rank
            from code_chunks c, to_tsquery('simple', %s) q
            where {where} and c.search_tsv @@ q
            order by rank desc, c.id limit %s""", [tsquery, *params, limit]).fetchall()
    return [_chunk(row[:-1], row[-1], "fts") for row in rows]


def vector_search(conn: psycopg.Connection, query: str, *, repo: str, language: str, limit: int = CANDIDATES,
                  exclude_chunk_ids: Iterable[int] = (), exclude_files: Iterable[str] = (), encoder=None,
                  update: bool = True, include_tests: bool = False) -> list[RetrievedChunk]:
    """Nearest chunks by cosine distance; `update` first embeds the repo's chunks that lack an embedding."""
    from rxt5_assets.retrieval.embeddings import get_encoder, update_embeddings, vector_literal

    encoder = encoder or get_encoder()
    if update:
        update_embeddings(conn, repo=repo, language=language, encoder=encoder)
    where, params = _filters(repo, language, exclude_chunk_ids, exclude_files, include_tests)
    vector = vector_literal(encoder.embed([query])[0])
    rows = conn.execute(
        f"""select {_COLUMNS}, 1 - (e.embedding <=> %s::vector) as similarity
            from code_chunks c join code_chunk_embeddings e
              on e.chunk_id = c.id and e.model_fingerprint = %s and e.content_hash = c.content_hash
            where {where}
            order by e.embedding <=> %s::vector, c.id limit %s""",
        [vector, encoder.fingerprint, *params, vector, limit]).fetchall()
    return [_chunk(row[:-1], row[-1], "vector") for row in rows]


def rrf_fuse(rankings: dict[str, Sequence[RetrievedChunk]], *, k: int, constant: int = RRF_CONSTANT,
             per_file: int | None = PER_FILE_CAP) -> list[RetrievedChunk]:
    """Reciprocal rank fusion: each chunk scores Σ 1 / (constant + rank) over the lists it is in (rank from 1); best
    first (ties: the better best rank, then the chunk id), at most `per_file` hits per (repo, file), `k` in all."""
    scores: dict[int, float] = {}
    ranks: dict[int, list[tuple[str, int]]] = {}
    chunks: dict[int, RetrievedChunk] = {}
    for name, ranking in rankings.items():
        for rank, chunk in enumerate(ranking, start=1):
            scores[chunk.chunk_id] = scores.get(chunk.chunk_id, 0.0) + 1.0 / (constant + rank)
            ranks.setdefault(chunk.chunk_id, []).append((name, rank))
            chunks.setdefault(chunk.chunk_id, chunk)
    order = sorted(scores, key=lambda cid: (-scores[cid], min(r for _, r in ranks[cid]), cid))
    fused: list[RetrievedChunk] = []
    per_file_count: dict[tuple[str, str], int] = {}
    for chunk_id in order:
        chunk = chunks[chunk_id]
        key = (chunk.repo, chunk.file_path)
        if per_file is not None and per_file_count.get(key, 0) >= per_file:
            continue
        per_file_count[key] = per_file_count.get(key, 0) + 1
        fused.append(replace(chunk, score=scores[chunk_id], method="hybrid", ranks=tuple(ranks[chunk_id])))
        if len(fused) >= k:
            break
    return fused


def repo_chunk_count(conn: psycopg.Connection, repo: str, language: str) -> int:
    return conn.execute("select count(*) from code_chunks where repo = %s and language = %s and content is not null",
                        (repo, language)).fetchone()[0]


def _no_chunks_message(conn: psycopg.Connection, repo: str, language: str) -> str:
    others = conn.execute(
        "select repo, count(*) from code_chunks where language = %s and repo is not null group by repo order by repo",
        (language,)).fetchall()
    has_other_language = conn.execute("select string_agg(distinct language, ', ') from code_chunks where repo = %s",
                                      (repo,)).fetchone()[0]
    where = (f"repo {repo!r} has chunks only in {has_other_language}" if has_other_language
             else f"repo {repo!r} has no chunks in code_chunks")
    known = ", ".join(f"{name} ({count})" for name, count in others[:20]) or "none"
    return (f"no {language} code to retrieve from: {where}. Ingest it first (`rxt5 ingest PATH --repo {repo}`); "
            f"repos with {language} chunks: {known}")


def retrieve(conn: psycopg.Connection, query: str, *, repo: str, language: str, k: int = 3,
             method: str = DEFAULT_METHOD, exclude_chunk_ids: Iterable[int] = (),
             exclude_files: Iterable[str] = (), encoder=None, candidates: int = CANDIDATES,
             per_file: int | None = None, include_tests: bool = False) -> list[RetrievedChunk]:
    """The `k` chunks of `repo` in `language` that best match `query`, best first.

    `exclude_chunk_ids` / `exclude_files` (file paths within the repo) are never returned, nor test code unless
    `include_tests` (a test module out-ranks the code it tests on that code's own words, and is poorer context for
    writing new code: measured in bench/bench_retrieval.py). `per_file` caps hits per file (default: 2 for hybrid,
    no cap for a single retriever). Raises NoChunksError when the repo has no chunks of the
    language, RetrievalError for an unknown method; a blank query retrieves nothing. May write the repo's missing
    embeddings (committed at once when the connection is idle, else part of the caller's transaction).
    """
    if method not in METHODS:
        raise RetrievalError(f"unknown retrieval method {method!r}: choose one of {', '.join(METHODS)}")
    if k < 1:
        return []
    if repo_chunk_count(conn, repo, language) == 0:
        raise NoChunksError(_no_chunks_message(conn, repo, language))
    if not query or not query.strip():
        return []
    exclude_chunk_ids, exclude_files = tuple(exclude_chunk_ids), tuple(exclude_files)
    if method != "fts":
        from rxt5_assets.retrieval.embeddings import pgvector_missing_message, vector_available

        if not vector_available(conn):
            log.warning("%s; retrieving for %r by full-text search", pgvector_missing_message(conn), repo)
            method = "fts"
    common = dict(repo=repo, language=language, exclude_chunk_ids=exclude_chunk_ids, exclude_files=exclude_files,
                  include_tests=include_tests)
    if method == "fts":
        hits = fts_search(conn, query, limit=max(k, candidates) if per_file else k, **common)
    elif method == "vector":
        hits = vector_search(conn, query, limit=max(k, candidates) if per_file else k, encoder=encoder, **common)
    else:
        lists = {"fts": fts_search(conn, query, limit=candidates, **common),
                 "vector": vector_search(conn, query, limit=candidates, encoder=encoder, **common)}
        return rrf_fuse(lists, k=k, per_file=PER_FILE_CAP if per_file is None else per_file)
    if per_file:
        capped, counts = [], {}
        for hit in hits:
            if counts.get(hit.file_path, 0) < per_file:
                counts[hit.file_path] = counts.get(hit.file_path, 0) + 1
                capped.append(hit)
        hits = capped
    return hits[:k]


def timed_retrieve(conn: psycopg.Connection, query: str, **kwargs) -> tuple[list[RetrievedChunk], float]:
    started = time.perf_counter()
    hits = retrieve(conn, query, **kwargs)
    return hits, time.perf_counter() - started
