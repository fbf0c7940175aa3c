"""Language-specific preprocessing: validate each chunk, parse it once, recognise its patterns.

Every row that does not go on is counted under a reason; the reasons, in the order they are tested:
null_content, null_language, null_file_path, empty, nul_bytes, unknown_language, not_requested_language,
too_short (the seed's LENGTH(content) >= 50), test_path (the seed's NOT LIKE '%test%' — kept aside as test targets),
too_large, duplicate_chunk (same content already seen), wrong_language (fails to parse as its label but parses
cleanly as another registered language), unparseable (no item recognised and syntax errors).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Sequence

import polars as pl

from rxt5_assets import languages
from rxt5_assets.data.parallel import map_slices
from rxt5_assets.data.quality import letter_share

MAX_CHUNK_CHARS = 100_000

ROW_COLUMNS = {"id": pl.Int64, "language": pl.String, "repo": pl.String, "file_path": pl.String, "content": pl.String}
# what analysis adds to a code_chunks row; the item's body (Analysis.body) is not needed downstream and is not kept
ANALYSIS_COLUMNS = {
    "kind": pl.String,
    "name": pl.String,
    "doc": pl.String,
    "signature": pl.String,
    "code_without_docs": pl.String,
    "tests": pl.String,
    "closing": pl.String,  # appended to content / code_without_docs, makes a whole item (Analysis.closing)
    "patterns": pl.List(pl.String),
    "concepts": pl.List(pl.String),
    "identifiers": pl.List(pl.String),  # Analysis.identifiers, computed for the whole column (identifier_words_expr)
    "has_syntax_error": pl.Boolean,
    "letter_share": pl.Float64,  # ASCII letters among visible characters (a quality penalty; see quality.py)
    # "indicators": a struct with one Float64 field per indicator of the languages present (null for the others)
}
_LIST_COLUMNS = ("patterns", "concepts")


def identifier_words_expr(names: pl.Expr) -> pl.Expr:
    """`_ts.identifier_words` for a column of space-joined names: word boundaries become spaces (HTTPServer → HTTP
    Server, ttlCache → ttl Cache, utf8 → utf 8, 8Bit → 8 Bit), then runs of two or more letters/digits, lower-cased,
    unique and sorted. One vectorised pass instead of a regex split per name per chunk in the workers."""
    return (names.str.replace_all(r"([A-Z])([A-Z][a-z])", "${1} ${2}")
            .str.replace_all(r"([a-z])([A-Z])", "${1} ${2}")
            .str.replace_all(r"([A-Za-z])([0-9])", "${1} ${2}")
            .str.replace_all(r"([0-9])([A-Z])", "${1} ${2}")
            .str.to_lowercase().str.extract_all(r"[a-z0-9]{2,}").list.unique().list.sort())


@dataclass
class PreprocessResult:
    chunks: pl.DataFrame  # accepted, analysed chunks (ROW_COLUMNS, ANALYSIS_COLUMNS, indicators)
    test_chunks: pl.DataFrame  # analysed chunks from test paths: targets of the item → tests task
    dropped: Counter = field(default_factory=Counter)
    rows_in: int = 0


def like_to_glob(pattern: str) -> str:
    """SQL LIKE → fnmatch, so the seed's `NOT LIKE '%test%'` is applied exactly as PostgreSQL would."""
    return "".join("*" if c == "%" else "?" if c == "_" else "[" + c + "]" if c in "[]*?" else c for c in pattern)


def _analyze(row: tuple[int, str, str, str, str]) -> tuple | None:
    """Worker: analyse one chunk in its own language. Returns ANALYSIS_COLUMNS' values, then the indicators dict, or
    None when no item is recognised and the tree has syntax errors (see `_failed_reason`).

    What the parent already holds is not sent back: not the row, and None for code_without_docs when it is the
    content itself (no docs to remove)."""
    _, language_name, _, _, content = row
    module = languages.get(language_name)
    analysis = module.analyze(content)
    if analysis.has_syntax_error and analysis.kind == "unknown":
        return None
    code_without_docs = analysis.code_without_docs
    return (
        analysis.kind, analysis.name, analysis.doc, analysis.signature,
        None if code_without_docs == content else code_without_docs, analysis.tests, analysis.closing,
        # space-joined here, split into list columns by polars in one vectorised step (see _to_frame)
        " ".join(sorted(analysis.patterns)), " ".join(sorted(analysis.concepts)),
        " ".join(analysis.names), analysis.has_syntax_error, letter_share(content),
        module.quality_indicators(analysis),
    )


def _failed_reason(language_name: str, content: str) -> str:
    """A chunk that fails its own language: wrong_language when another registered language parses it cleanly.
    Decided on every run (never cached): it depends on the other languages' modules."""
    for other in languages.all_languages():
        if other.name != language_name and not other.analyze(content).has_syntax_error:
            return "wrong_language"
    return "unparseable"


def indicators_dtype(names) -> pl.Struct:
    # parquet cannot store a struct without fields: an empty selection gets a placeholder
    return pl.Struct({name: pl.Float64 for name in sorted(names)} or {"none": pl.Float64})


@lru_cache(maxsize=None)
def indicator_names(requested_languages: tuple[str, ...]) -> tuple[str, ...]:
    """Every quality indicator the requested languages report (each module reports a fixed set), so that every part
    of a stage's output has the same indicators struct, whichever languages the part holds."""
    names: set[str] = set()
    for name in requested_languages:
        if name in languages.names():
            module = languages.get(name)
            names |= set(module.quality_indicators(module.analyze("x")))
    return tuple(sorted(names))


def _to_frame(rows: list[tuple], results: list[tuple], indicator_fields: Sequence[str] | None = None) -> pl.DataFrame:
    """code_chunks rows + their analyses → a frame, column by column (building list columns row by row is polars'
    slowest path; splitting a string column is one vectorised call)."""
    row_columns = list(zip(*rows)) if rows else [()] * len(ROW_COLUMNS)
    columns = list(zip(*results)) if results else [()] * (len(ANALYSIS_COLUMNS) + 1)
    frame = pl.DataFrame([
        *(pl.Series(name, values, dtype=dtype) for (name, dtype), values in zip(ROW_COLUMNS.items(), row_columns)),
        *(pl.Series(name, values, dtype=pl.String if dtype == pl.List(pl.String) else dtype)
          for (name, dtype), values in zip(ANALYSIS_COLUMNS.items(), columns)),
    ])
    indicators = columns[-1]
    return frame.with_columns(
        pl.Series("indicators", indicators, dtype=indicators_dtype(
            indicator_fields if indicator_fields is not None else {n for d in indicators for n in d})),
        pl.col("code_without_docs").fill_null(pl.col("content")),
        identifier_words_expr(pl.col("identifiers")),
        *(pl.when(pl.col(name) == "").then(pl.lit([], dtype=pl.List(pl.String))).otherwise(pl.col(name).str.split(" "))
          .alias(name) for name in _LIST_COLUMNS),
    )


def _analyze_slice(rows: list[tuple]) -> list[tuple | str | None]:
    results = []
    for row in rows:
        result = _analyze(row)
        # a failure's reason is decided here too, so the parent only does it for failures it read from the cache
        results.append(result if result is not None else ("failed", _failed_reason(row[1], row[4])))
    return results


@dataclass
class BatchPart:
    """One batch of code_chunks rows, preprocessed."""
    chunks: pl.DataFrame
    test_chunks: pl.DataFrame


@dataclass
class PreprocessStats:
    dropped: Counter = field(default_factory=Counter)
    rows_in: int = 0
    accepted: int = 0
    test_chunks: int = 0
    per_language: Counter = field(default_factory=Counter)
    megabytes: float = 0.0
    analysed: int = 0  # chunks analysed now
    cached: int = 0  # chunks whose analysis was stored already
    new_analyses: list = field(default_factory=list)  # cache rows of this batch (content_hash, language, version, …)


class Preprocessor:
    """Validates, deduplicates and analyses code_chunks rows batch by batch; state across batches is the set of
    content hashes seen (duplicates are dropped across the whole table, whatever the batch size).

    A row is (id, content, language, file_path, repo[, content_hash, *stored analysis]): with the stored analysis
    (analysis_cache.stream_chunks) only rows without one are analysed, and `stats.new_analyses` holds what to store."""

    def __init__(self, requested_languages: tuple[str, ...] = ("rust", "elixir"), *, min_length: int = 50,
                 exclude_path_pattern: str = "%test%", max_chars: int = MAX_CHUNK_CHARS, workers: int = 1,
                 versions: dict[str, str] | None = None):
        self.requested = tuple(requested_languages)
        self.min_length, self.max_chars, self.workers = min_length, max_chars, workers
        self.path_glob = like_to_glob(exclude_path_pattern)
        self.known = set(languages.names())
        self.versions = versions
        self.indicator_fields = indicator_names(self.requested)
        self.seen_hashes: set = set()
        self.stats = PreprocessStats()

    def batch(self, rows: Sequence[tuple]) -> BatchPart:
        from rxt5_assets.data.analysis_cache import cache_row, cached_result

        stats, dropped = self.stats, self.stats.dropped
        stats.rows_in += len(rows)
        candidates: list[tuple] = []  # (row, stored analysis or None, content hash)
        test_candidates: list[tuple] = []
        megabytes = 0
        for row in rows:
            chunk_id, content, language_name, file_path, repo = row[:5]
            if content is not None:
                megabytes += len(content)
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
            elif language_name not in self.known:
                reason = "unknown_language"
            elif language_name not in self.requested:
                reason = "not_requested_language"
            elif len(content) < self.min_length:
                reason = "too_short"
            elif fnmatchcase(file_path, self.path_glob):
                test_candidates.append(((chunk_id, language_name, repo or "", file_path, content), row))
                reason = "test_path"
            elif len(content) > self.max_chars:
                reason = "too_large"
            else:
                digest = row[5] if len(row) > 5 else hashlib.md5(content.encode("utf-8", "replace")).hexdigest()
                if digest in self.seen_hashes:
                    reason = "duplicate_chunk"
                else:
                    self.seen_hashes.add(digest)
                    candidates.append(((chunk_id, language_name, repo or "", file_path, content), row))
                    continue
            dropped[reason] += 1
        stats.megabytes += megabytes / 1e6

        pending = candidates + test_candidates
        results: list = [None] * len(pending)
        to_analyse = []
        for index, (_, row) in enumerate(pending):
            if self.versions is not None and len(row) > 6 and row[6] is not None:  # stored: `failed` is not null
                stored = cached_result(row[6:])
                results[index] = stored if stored is not None else ("failed", None)
            else:
                to_analyse.append(index)
        stats.cached += len(pending) - len(to_analyse)
        stats.analysed += len(to_analyse)
        fresh = [result for part in map_slices(_analyze_slice, [pending[i][0] for i in to_analyse], self.workers)
                 for result in part]
        stats.new_analyses = []
        for index, result in zip(to_analyse, fresh):
            results[index] = result
            if self.versions is not None:
                _, row = pending[index]
                language_name = row[2]
                digest = row[5] if len(row) > 5 else hashlib.md5(row[1].encode("utf-8", "replace")).hexdigest()
                stats.new_analyses.append(cache_row(digest, language_name, self.versions[language_name],
                                                    None if result[0] == "failed" else result))

        accepted: tuple[list, list] = ([], [])
        tests: tuple[list, list] = ([], [])
        for index, result in enumerate(results):
            if result[0] == "failed":
                if index < len(candidates):  # test-path rows were already counted as test_path
                    row = pending[index][0]
                    dropped[result[1] or _failed_reason(row[1], row[4])] += 1
                continue
            rows_and_results = accepted if index < len(candidates) else tests
            rows_and_results[0].append(pending[index][0])
            rows_and_results[1].append(result)
        part = BatchPart(chunks=_to_frame(*accepted, self.indicator_fields),
                         test_chunks=_to_frame(*tests, self.indicator_fields))
        stats.accepted += part.chunks.height
        stats.test_chunks += part.test_chunks.height
        stats.per_language.update(language for _, language, *_ in accepted[0])
        return part


def preprocess_chunks(
    frame: pl.DataFrame,
    requested_languages: tuple[str, ...] = ("rust", "elixir"),
    *,
    min_length: int = 50,
    exclude_path_pattern: str = "%test%",
    max_chars: int = MAX_CHUNK_CHARS,
    workers: int = 1,
) -> PreprocessResult:
    """Validate, deduplicate and analyse code_chunks rows (columns: id, content, language, file_path, repo), all in
    one batch and without the analysis cache (the data stage streams batches through `Preprocessor`)."""
    preprocessor = Preprocessor(requested_languages, min_length=min_length, exclude_path_pattern=exclude_path_pattern,
                                max_chars=max_chars, workers=workers)
    part = preprocessor.batch(list(frame.select("id", "content", "language", "file_path", "repo").iter_rows()))
    return PreprocessResult(chunks=part.chunks, test_chunks=part.test_chunks, dropped=preprocessor.stats.dropped,
                            rows_in=frame.height)
