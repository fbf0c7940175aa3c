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
    (analysis_cache.fetch_rows) only rows without one are analysed, and `stats.new_analyses` holds what to store."""

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

    def classify(self, row: tuple) -> str:
        """A row's outcome before deduplication and analysis: a drop reason, `test_path` (kept aside as a test
        target) or `candidate`."""
        _, content, language_name, file_path = row[:4]
        if content is None:
            return "null_content"
        if language_name is None:
            return "null_language"
        if file_path is None:
            return "null_file_path"
        if not content.strip():
            return "empty"
        if "\x00" in content:
            return "nul_bytes"
        if language_name not in self.known:
            return "unknown_language"
        if language_name not in self.requested:
            return "not_requested_language"
        if len(content) < self.min_length:
            return "too_short"
        if fnmatchcase(file_path, self.path_glob):
            return "test_path"
        if len(content) > self.max_chars:
            return "too_large"
        return "candidate"

    @staticmethod
    def digest(row: tuple) -> str:
        return row[5] if len(row) > 5 else hashlib.md5(row[1].encode("utf-8", "replace")).hexdigest()

    def analyse(self, pending: Sequence[tuple]) -> list:
        """Worker results for code_chunks rows (with their stored analysis where the row carries one): the stored
        ones decoded, the others analysed now (`stats.new_analyses` gets what to store). A failure is ("failed",
        reason or None: None when read from the cache, the reason is decided again)."""
        from rxt5_assets.data.analysis_cache import cache_row, cached_result

        stats = self.stats
        results: list = [None] * len(pending)
        to_analyse = []
        for index, row in enumerate(pending):
            if self.versions is not None and len(row) > 6 and row[6] is not None:  # stored: `failed` is not null
                stored = cached_result(row[6:])
                results[index] = stored if stored is not None else ("failed", None)
            else:
                to_analyse.append(index)
        stats.cached += len(pending) - len(to_analyse)
        stats.analysed += len(to_analyse)
        rows = [(row[0], row[2], row[4] or "", row[3], row[1]) for row in (pending[i] for i in to_analyse)]
        fresh = [result for part in map_slices(_analyze_slice, rows, self.workers) for result in part]
        stats.new_analyses = []
        for index, result in zip(to_analyse, fresh):
            results[index] = result
            if self.versions is not None:
                row = pending[index]
                stats.new_analyses.append(cache_row(self.digest(row), row[2], self.versions[row[2]],
                                                    None if result[0] == "failed" else result))
        return results

    @staticmethod
    def failure(row: tuple, result) -> str | None:
        """The drop reason of an analysed row, None when it was accepted."""
        if result[0] != "failed":
            return None
        return result[1] or _failed_reason(row[2], row[1])

    def frame(self, rows: Sequence[tuple], results: Sequence) -> pl.DataFrame:
        """Accepted rows and their worker results → the part frame (ROW_COLUMNS, ANALYSIS_COLUMNS, indicators)."""
        return _to_frame([(row[0], row[2], row[4] or "", row[3], row[1]) for row in rows], list(results),
                         self.indicator_fields)

    def batch(self, rows: Sequence[tuple]) -> BatchPart:
        stats, dropped = self.stats, self.stats.dropped
        stats.rows_in += len(rows)
        candidates: list[tuple] = []
        test_candidates: list[tuple] = []
        megabytes = 0
        for row in rows:
            content = row[1]
            if content is not None:
                megabytes += len(content)
            reason = self.classify(row)
            if reason == "test_path":
                test_candidates.append(row)
            elif reason == "candidate":
                digest = self.digest(row)
                if digest in self.seen_hashes:
                    reason = "duplicate_chunk"
                else:
                    self.seen_hashes.add(digest)
                    candidates.append(row)
                    continue
            dropped[reason] += 1
        stats.megabytes += megabytes / 1e6

        pending = candidates + test_candidates
        results = self.analyse(pending)
        accepted: tuple[list, list] = ([], [])
        tests: tuple[list, list] = ([], [])
        for index, (row, result) in enumerate(zip(pending, results)):
            reason = self.failure(row, result) if result[0] == "failed" and index < len(candidates) else None
            if reason is not None:
                dropped[reason] += 1  # test-path rows were already counted as test_path
                continue
            if result[0] == "failed":
                continue
            rows_and_results = accepted if index < len(candidates) else tests
            rows_and_results[0].append(row)
            rows_and_results[1].append(result)
        part = BatchPart(chunks=self.frame(*accepted), test_chunks=self.frame(*tests))
        stats.accepted += part.chunks.height
        stats.test_chunks += part.test_chunks.height
        stats.per_language.update(row[2] for row in accepted[0])
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
