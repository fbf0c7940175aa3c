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


def _analyze(row: tuple[int, str, str, str, str]) -> tuple | str:
    """Worker: analyse one chunk. Returns ANALYSIS_COLUMNS' values, then the indicators dict, or a drop reason.

    What the parent already holds is not sent back: not the row, and None for code_without_docs when it is the
    content itself (no docs to remove)."""
    _, language_name, _, _, content = row
    module = languages.get(language_name)
    analysis = module.analyze(content)
    if analysis.has_syntax_error and analysis.kind == "unknown":
        for other in languages.all_languages():
            if other.name != language_name and not other.analyze(content).has_syntax_error:
                return "wrong_language"
        return "unparseable"
    code_without_docs = analysis.code_without_docs
    return (
        analysis.kind, analysis.name, analysis.doc, analysis.signature,
        None if code_without_docs == content else code_without_docs, analysis.tests, analysis.closing,
        # space-joined here, split into list columns by polars in one vectorised step (see _to_frame)
        " ".join(sorted(analysis.patterns)), " ".join(sorted(analysis.concepts)),
        " ".join(analysis.names), analysis.has_syntax_error, letter_share(content),
        module.quality_indicators(analysis),
    )


def indicators_dtype(names) -> pl.Struct:
    # parquet cannot store a struct without fields: an empty selection gets a placeholder
    return pl.Struct({name: pl.Float64 for name in sorted(names)} or {"none": pl.Float64})


def _to_frame(rows: list[tuple], results: list[tuple]) -> pl.DataFrame:
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
        pl.Series("indicators", indicators, dtype=indicators_dtype({n for d in indicators for n in d})),
        pl.col("code_without_docs").fill_null(pl.col("content")),
        identifier_words_expr(pl.col("identifiers")),
        *(pl.when(pl.col(name) == "").then(pl.lit([], dtype=pl.List(pl.String))).otherwise(pl.col(name).str.split(" "))
          .alias(name) for name in _LIST_COLUMNS),
    )


def _analyze_slice(rows: list[tuple]) -> list[tuple | str]:
    return [_analyze(row) for row in rows]


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

    accepted: tuple[list, list] = ([], [])
    tests: tuple[list, list] = ([], [])
    rows = candidates + test_candidates
    analysed = [result for part in map_slices(_analyze_slice, rows, workers) for result in part]
    for index, result in enumerate(analysed):
        if isinstance(result, str):
            if index < len(candidates):  # test-path rows were already counted as test_path
                dropped[result] += 1
            continue
        rows_and_results = accepted if index < len(candidates) else tests
        rows_and_results[0].append(rows[index])
        rows_and_results[1].append(result)
    return PreprocessResult(chunks=_to_frame(*accepted), test_chunks=_to_frame(*tests), dropped=dropped,
                            rows_in=frame.height)
