"""Language-specific preprocessing: validate each chunk, parse it once, recognise its patterns.

Every row that does not go on is counted under a reason; the reasons, in the order they are tested:
null_content, null_language, null_file_path, empty, nul_bytes, unknown_language, not_requested_language,
too_short (the seed's LENGTH(content) >= 50), test_path (the seed's NOT LIKE '%test%' — kept aside as test targets),
too_large, duplicate_chunk (same content already seen), wrong_language (fails to parse as its label but parses
cleanly as another registered language), unparseable (no item recognised and syntax errors).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import partial
import multiprocessing

import polars as pl

from rxt5_assets import languages

MAX_CHUNK_CHARS = 100_000

ANALYZED_SCHEMA = {
    "id": pl.Int64,
    "language": pl.String,
    "repo": pl.String,
    "file_path": pl.String,
    "content": pl.String,
    "kind": pl.String,
    "name": pl.String,
    "doc": pl.String,
    "signature": pl.String,
    "body": pl.String,
    "code_without_docs": pl.String,
    "tests": pl.String,
    "patterns": pl.List(pl.String),
    "concepts": pl.List(pl.String),
    "identifiers": pl.List(pl.String),
    "has_syntax_error": pl.Boolean,
    "indicators": pl.String,  # JSON object: indicator name -> value in [0, 1]
}


@dataclass
class PreprocessResult:
    chunks: pl.DataFrame  # accepted, analysed chunks (ANALYZED_SCHEMA)
    test_chunks: pl.DataFrame  # analysed chunks from test paths: targets of the item → tests task
    dropped: Counter = field(default_factory=Counter)
    rows_in: int = 0


def like_to_glob(pattern: str) -> str:
    """SQL LIKE → fnmatch, so the seed's `NOT LIKE '%test%'` is applied exactly as PostgreSQL would."""
    return "".join("*" if c == "%" else "?" if c == "_" else "[" + c + "]" if c in "[]*?" else c for c in pattern)


def _analyze(row: tuple[int, str, str, str, str]) -> dict | str:
    """Worker: analyse one chunk. Returns the analysed row, or a drop reason."""
    import json

    chunk_id, language_name, repo, file_path, content = row
    module = languages.get(language_name)
    analysis = module.analyze(content)
    if analysis.has_syntax_error and analysis.kind == "unknown":
        for other in languages.all_languages():
            if other.name != language_name and not other.analyze(content).has_syntax_error:
                return "wrong_language"
        return "unparseable"
    indicators = module.quality_indicators(analysis)
    return {
        "id": chunk_id, "language": language_name, "repo": repo, "file_path": file_path, "content": content,
        "kind": analysis.kind, "name": analysis.name, "doc": analysis.doc, "signature": analysis.signature,
        "body": analysis.body, "code_without_docs": analysis.code_without_docs, "tests": analysis.tests,
        # space-joined here, split into list columns by polars in one vectorised step (see _to_frame)
        "patterns": " ".join(sorted(analysis.patterns)), "concepts": " ".join(sorted(analysis.concepts)),
        "identifiers": " ".join(sorted(analysis.identifiers)), "has_syntax_error": analysis.has_syntax_error,
        "indicators": json.dumps(indicators, sort_keys=True),
    }


_LIST_COLUMNS = ("patterns", "concepts", "identifiers")


def _to_frame(rows: list[dict]) -> pl.DataFrame:
    """Analysed rows → ANALYZED_SCHEMA. Building list columns row by row is polars' slowest path; splitting a string
    column is one vectorised call."""
    if not rows:
        return pl.DataFrame(schema=ANALYZED_SCHEMA)
    flat_schema = {name: (pl.String if name in _LIST_COLUMNS else dtype) for name, dtype in ANALYZED_SCHEMA.items()}
    frame = pl.DataFrame(rows, schema=flat_schema)
    return frame.with_columns(
        pl.when(pl.col(name) == "").then(pl.lit([], dtype=pl.List(pl.String))).otherwise(pl.col(name).str.split(" "))
        .alias(name)
        for name in _LIST_COLUMNS
    )


def _map_batch(function, items: list) -> list:
    return [function(item) for item in items]


def parallel_map(function, items: list, workers: int = 1) -> list:
    """`[function(item) for item in items]` on `workers` processes (fork: grammars and config are inherited, nothing
    is re-imported), in order. `function` must be a module-level function or a functools.partial of one."""
    if workers <= 1 or len(items) < 64:
        return _map_batch(function, items)
    size = max(16, len(items) // (workers * 8))
    batches = [items[i:i + size] for i in range(0, len(items), size)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return [result for batch in pool.map(partial(_map_batch, function), batches) for result in batch]


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def preprocess_chunks(
    frame: pl.DataFrame,
    requested_languages: tuple[str, ...] = ("rust", "elixir"),
    *,
    min_length: int = 50,
    exclude_path_pattern: str = "%test%",
    max_chars: int = MAX_CHUNK_CHARS,
    workers: int = 1,
) -> PreprocessResult:
    """Validate, deduplicate and analyse code_chunks rows (columns: id, content, language, file_path, repo)."""
    dropped: Counter = Counter()
    known = set(languages.names())
    path_glob = like_to_glob(exclude_path_pattern)
    seen_hashes: set[bytes] = set()
    candidates: list[tuple] = []
    test_candidates: list[tuple] = []

    for chunk_id, content, language_name, file_path, repo in frame.select(
        "id", "content", "language", "file_path", "repo"
    ).iter_rows():
        if content is None:
            reason = "null_content"
        elif language_name is None:
            reason = "null_language"
        elif file_path is None:
            reason = "null_file_path"
        elif not content.strip():
            reason = "empty"
        elif "\x00" in content:
            reason = "nul_bytes"
        elif language_name not in known:
            reason = "unknown_language"
        elif language_name not in requested_languages:
            reason = "not_requested_language"
        elif len(content) < min_length:
            reason = "too_short"
        elif fnmatchcase(file_path, path_glob):
            test_candidates.append((chunk_id, language_name, repo or "", file_path, content))
            reason = "test_path"
        elif len(content) > max_chars:
            reason = "too_large"
        else:
            digest = hashlib.blake2b(content.encode("utf-8", "replace"), digest_size=16).digest()
            if digest in seen_hashes:
                reason = "duplicate_chunk"
            else:
                seen_hashes.add(digest)
                candidates.append((chunk_id, language_name, repo or "", file_path, content))
                continue
        dropped[reason] += 1

    analysed = parallel_map(_analyze, candidates + test_candidates, workers)
    accepted, tests = [], []
    for index, result in enumerate(analysed):
        if isinstance(result, str):
            if index < len(candidates):  # test-path rows were already counted as test_path
                dropped[result] += 1
        elif index < len(candidates):
            accepted.append(result)
        else:
            tests.append(result)
    return PreprocessResult(
        chunks=_to_frame(accepted),
        test_chunks=_to_frame(tests),
        dropped=dropped,
        rows_in=frame.height,
    )
