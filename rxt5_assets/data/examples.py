"""Quality scoring & filtering, then (input → target) examples for T5.

Tasks, each with a language-tagged prefix ("<verb> <language>: …"):
  implement  description/doc + signature → the item without its docs
  generate   description → the whole item, docs included
  document   item → its `///` / @doc text
  test       item → its tests (`#[cfg(test)]` module of the same file, or the ExUnit module testing it)
Cross-language tasks ("translate rust to elixir: …") are built from pairs in `pairs.py`.

The split is by file: a file's hash (with the seed) decides train or eval, so no file is on both sides, and the same file
lands on the same side in every later dataset — a model trained on one version is never evaluated on its training files.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import polars as pl

from rxt5_assets.data.parallel import gc_paused
from rxt5_assets.data.quality import ASCII_WHITESPACE, QualityWeights, score_chunks

EXAMPLE_SCHEMA = {
    "input": pl.String,
    "target": pl.String,
    "language": pl.String,
    "task": pl.String,
    "quality_score": pl.Float64,
    "source_id": pl.String,
    "code_chunk_id": pl.Int64,
    "repo": pl.String,
    "file_path": pl.String,
    "split": pl.String,
    "quality_breakdown": pl.String,
}

@dataclass(frozen=True)
class ExampleConfig:
    quality_threshold: float = 0.7
    eval_fraction: float = 0.1
    seed: int = 42
    max_input_chars: int = 3000
    max_target_chars: int = 2400
    near_duplicate_threshold: float = 0.8  # estimated Jaccard of byte 8-grams of the whitespace-normalised target
    weights: QualityWeights = field(default_factory=QualityWeights)


@dataclass
class ExampleResult:
    examples: pl.DataFrame  # EXAMPLE_SCHEMA
    scores: pl.DataFrame  # id, language, quality_score, passed, breakdown, split — one row per chunk
    dropped: Counter = field(default_factory=Counter)


def _file_position(repo: str, file_path: str, seed: int) -> float:
    """A file's seeded, stable position in [0, 1): files below eval_fraction go to eval."""
    digest = hashlib.blake2b(f"{seed}:{repo}:{file_path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def file_split(repo: str, file_path: str, eval_fraction: float, seed: int) -> str:
    return "eval" if _file_position(repo, file_path, seed) < eval_fraction else "train"


def assign_splits(files: pl.DataFrame, eval_fraction: float, seed: int) -> dict[tuple[str, str], str]:
    """(repo, file_path) → split, with at least one eval file per language whenever a language has two files."""
    splits: dict[tuple[str, str], str] = {}
    for language, group in files.group_by("language"):
        keys = sorted(set(zip(group["repo"].to_list(), group["file_path"].to_list())))
        chosen = {key: file_split(*key, eval_fraction, seed) for key in keys}
        if eval_fraction > 0 and len(keys) >= 2 and "eval" not in chosen.values():
            # the file whose hash is smallest is the one a larger eval_fraction would have taken first
            first = min(keys, key=lambda key: _file_position(*key, seed))
            chosen[first] = "eval"
        for key, split in chosen.items():
            splits.setdefault(key, split)  # a file shared by two languages keeps its first decision
    return splits


def first_paragraph(doc: str) -> str:
    return doc.strip().split("\n\n", 1)[0].strip()


def _first_paragraph_expr(doc: pl.Expr) -> pl.Expr:
    return doc.str.strip_chars().str.splitn("\n\n", 2).struct.field("field_0").str.strip_chars()


_TASK_ORDER = {"implement": 0, "generate": 1, "document": 2, "test": 3}
_CARRIED = ("language", "quality_score", "id", "repo", "file_path", "breakdown", "split")


def _item_tasks(passed: pl.DataFrame) -> pl.DataFrame:
    """(task, input, target) rows for the accepted chunks, each chunk's tasks in _TASK_ORDER, as columns."""
    language, kind = pl.col("language"), pl.col("kind")
    doc = pl.col("doc").str.strip_chars()
    code, description, signature = pl.col("_code"), pl.col("description"), pl.col("signature")
    stripped_code = pl.col("code_without_docs").str.strip_chars()
    base = passed.with_row_index("_chunk").with_columns(
        description=_first_paragraph_expr(pl.col("doc")),
        # targets are whole items: a chunk that stops short of its end (an Elixir module header) gets its closing
        _code=pl.when(stripped_code != "").then(pl.concat_str(stripped_code, "closing")).otherwise(pl.lit("")),
    )
    has_description = description != ""
    implement = base.filter((signature != "") & (code != "")).select(
        *_CARRIED, "_chunk", task=pl.lit("implement"),
        input=pl.concat_str(pl.lit("implement "), language, pl.lit(": "),
                            pl.when(has_description).then(description + "\n").otherwise(pl.lit("")), signature),
        target=code)
    generate = base.filter(has_description).select(
        *_CARRIED, "_chunk", task=pl.lit("generate"),
        input=pl.concat_str(pl.lit("generate "), language, pl.lit(" "), kind, pl.lit(": "), description),
        target=pl.concat_str(pl.col("content").str.strip_chars(), "closing"))
    document = base.filter(has_description & (code != "")).select(
        *_CARRIED, "_chunk", task=pl.lit("document"),
        input=pl.concat_str(pl.lit("document "), language, pl.lit(": "), code), target=doc)
    # item → its own tests: the item's text without them (few rows; str.replace of a per-row literal is Python's)
    with_tests = base.filter(pl.col("tests").str.strip_chars() != "")
    without_tests = pl.Series([content.replace(tests, "").strip() for content, tests
                               in zip(with_tests["content"].to_list(), with_tests["tests"].to_list())], dtype=pl.String)
    test = with_tests.with_columns(_without=without_tests).filter(pl.col("_without") != "").select(
        *_CARRIED, "_chunk", task=pl.lit("test"),
        input=pl.concat_str(pl.lit("write tests "), language, pl.lit(": "), pl.col("_without")),
        target=pl.col("tests").str.strip_chars())
    return (pl.concat([implement, generate, document, test])
            .sort("_chunk", pl.col("task").replace_strict(_TASK_ORDER, return_dtype=pl.Int8)).drop("_chunk"))


def _test_tasks(passed: pl.DataFrame, test_chunks: pl.DataFrame) -> pl.DataFrame:
    """item → tests across chunks: a Rust file's test module tests the file's other items; an ExUnit module
    `Foo.BarTest` tests the module `Foo.Bar`. Carried columns come from the subject (the file's first item)."""
    stripped = pl.col("content").str.strip_chars()
    items = passed.filter(pl.col("kind") != "test_module").group_by("repo", "file_path", maintain_order=True).agg(
        pl.col(*_CARRIED[:3], "breakdown", "split").first(), subject=stripped.str.join("\n\n"))
    rust_style = passed.filter(pl.col("kind") == "test_module").select(
        "repo", "file_path", test_language="language", target=stripped,
    ).join(items, on=["repo", "file_path"], how="inner", maintain_order="left").select(
        *_CARRIED, task=pl.lit("test"),
        input=pl.concat_str(pl.lit("write tests "), pl.col("test_language"), pl.lit(": "), pl.col("subject")),
        target=pl.col("target"))
    modules = passed.filter(pl.col("kind").is_in(["module", "module_header"]) & (pl.col("name") != "")).unique(
        "name", keep="last", maintain_order=True)
    exunit_style = test_chunks.filter(pl.col("name").str.ends_with("Test")).select(
        subject_name=pl.col("name").str.strip_suffix("Test"), target=stripped,
    ).filter(pl.col("subject_name") != "").join(
        modules.rename({"name": "subject_name"}), on="subject_name", how="inner", maintain_order="left",
    ).select(*_CARRIED, task=pl.lit("test"),
             input=pl.concat_str(pl.lit("write tests "), pl.col("language"), pl.lit(": "), stripped),
             target=pl.col("target"))
    return pl.concat([rust_style, exunit_style])


SHINGLE_BYTES = 8
NUM_BINS = 64
LSH_BANDS, LSH_ROWS = 16, 4
EMPTY_BIN = np.uint32(0xFFFFFFFF)
_MIX_1, _MIX_2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xFF51AFD7ED558CCD)  # odd: bijections mod 2^64
_BLOCK_BYTES = 1 << 19  # per numpy pass: temporaries stay in cache and in the heap (fresh pages fault slowly)


def minhash_signatures(texts: list[bytes]) -> np.ndarray:
    """One-permutation MinHash (Li, Owen & Zhang 2012) over each text's byte 8-grams: (len(texts), 64) uint32.

    Each 8-gram is read as one unaligned little-endian uint64 straight from the concatenated texts, mixed (two
    multiply-xorshift rounds), and sent to one of 64 bins by its top bits; a bin keeps its minimum. A bin no 8-gram fell
    into holds EMPTY_BIN. One hash per 8-gram instead of one per 8-gram and permutation: 64× less arithmetic than
    classic MinHash, vectorised over all texts at once.
    """
    encoded = [text.ljust(SHINGLE_BYTES) for text in texts]
    signatures = np.full((len(encoded), NUM_BINS), EMPTY_BIN, dtype=np.uint32)
    if not encoded:
        return signatures
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    blob = b"".join(encoded) + bytes(SHINGLE_BYTES)
    windows = np.ndarray((len(blob) - SHINGLE_BYTES + 1,), dtype="<u8", buffer=blob, strides=(1,))
    flat = signatures.reshape(-1)
    first = 0
    while first < len(encoded):
        last = max(first + 1, int(np.searchsorted(offsets, offsets[first] + _BLOCK_BYTES, side="right")) - 1)
        last = min(last, len(encoded))
        start, stop = int(offsets[first]), int(offsets[last])
        document = np.repeat(np.arange(first, last), lengths[first:last])
        valid = np.arange(start, stop) + SHINGLE_BYTES <= np.repeat(offsets[first + 1:last + 1], lengths[first:last])
        hashes = windows[start:stop][valid] * _MIX_1
        hashes ^= hashes >> np.uint64(29)
        hashes *= _MIX_2
        hashes ^= hashes >> np.uint64(32)
        bins = (hashes >> np.uint64(64 - 6)).astype(np.int64)  # 6 bits: NUM_BINS
        np.minimum.at(flat, document[valid] * NUM_BINS + bins, hashes.astype(np.uint32))
        first = last
    return signatures


def estimated_jaccard(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise Jaccard estimate of two signature matrices: agreeing bins among the bins not empty in both."""
    both_empty = (first == EMPTY_BIN) & (second == EMPTY_BIN)
    agree = ((first == second) & ~both_empty).sum(axis=-1)
    return agree / np.maximum(1, NUM_BINS - both_empty.sum(axis=-1))


def near_duplicates(signatures: np.ndarray, groups: np.ndarray, threshold: float,
                    decided: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask: the rows that are near duplicates (estimated Jaccard ≥ threshold) of an earlier kept row of the
    same group.

    LSH with 16 bands of 4 bins finds candidates (a pair at Jaccard 0.8 shares a band with probability > 0.999); each
    candidate is then verified on the whole signature, so the decision follows the estimated Jaccard and not the luck
    of the banding. Earlier rows win, and a dropped row does not drop others.

    `decided`: the mask of the first len(decided) rows, known already (a row's decision depends on earlier rows only,
    so a retrain whose first parts are unchanged knows theirs from the previous run); only later rows are decided,
    against the earlier kept ones: one band's keys of the later rows joined to all, instead of every row to every row.
    """
    count = len(signatures)
    known = 0 if decided is None else len(decided)
    dropped = np.zeros(count, dtype=bool)
    dropped[:known] = decided if known else False
    if count < 2 or known >= count:
        return dropped
    banded = signatures.reshape(count, LSH_BANDS, LSH_ROWS)
    positions = np.arange(count)
    close_pairs = []
    for band in range(LSH_BANDS):  # band by band, candidates verified in slices: memory follows one band's pairs
        # one band's keys at a time (all bands at once as uint64: 8× the signatures' memory)
        bands = banded[:, band].astype(np.uint64)
        band_keys = (bands[:, 0] | bands[:, 1] << np.uint64(32)) * _MIX_1 ^ (bands[:, 2] | bands[:, 3] << np.uint64(32))
        keep = ~(banded[:, band] == EMPTY_BIN).all(axis=1)  # an empty band says nothing
        keep[:known] &= ~dropped[:known]  # a decided row that was dropped drops nothing
        members = pl.DataFrame({"row": positions[keep], "group": groups[keep], "key": band_keys[keep]})
        del bands, band_keys
        if known:
            later = members.filter(pl.col("row") >= known)
            candidates = (members.join(later, on=["group", "key"], suffix="_later")
                          .filter(pl.col("row") < pl.col("row_later")).select("row", "row_later"))
        else:
            shared = members.filter(pl.len().over("group", "key") > 1)
            if shared.height == 0:
                continue
            candidates = (shared.join(shared, on=["group", "key"], suffix="_later")
                          .filter(pl.col("row") < pl.col("row_later")).select("row", "row_later"))
        earlier, later = candidates["row"].to_numpy(), candidates["row_later"].to_numpy()
        del candidates
        for start in range(0, len(earlier), _VERIFY_SLICE):
            first, second = earlier[start:start + _VERIFY_SLICE], later[start:start + _VERIFY_SLICE]
            close = estimated_jaccard(signatures[first], signatures[second]) >= threshold
            if close.any():
                close_pairs.append(pl.DataFrame({"row": first[close], "row_later": second[close]}))
    if not close_pairs:
        return dropped
    close = pl.concat(close_pairs).unique()
    earlier, later = close["row"].to_numpy(), close["row_later"].to_numpy()
    order = np.lexsort((earlier, later))  # by the later row, then the earlier one
    for first, second in zip(earlier[order].tolist(), later[order].tolist()):
        if not dropped[first]:  # every pair (·, second) comes after all pairs that decide `first`
            dropped[second] = True
    return dropped


_VERIFY_SLICE = 500_000


def _dedup_keys(rows: list[tuple[str, str, str]]) -> tuple[list[bytes], np.ndarray]:
    """Per (task, input, target): a digest of the three without whitespace (exact duplicates), and the MinHash
    signature of the target without whitespace (near duplicates). Without whitespace, a change of layout or
    indentation alone never makes two examples different (bytes.translate: one C pass per text)."""
    digests, targets = [], []
    for task, source, target in rows:
        squeezed_target = target.encode("utf-8").translate(None, ASCII_WHITESPACE)
        squeezed_source = source.encode("utf-8").translate(None, ASCII_WHITESPACE)
        digest = hashlib.blake2b(task.encode(), digest_size=16)
        digest.update(len(squeezed_source).to_bytes(8, "little"))
        digest.update(squeezed_source)
        digest.update(squeezed_target)
        digests.append(digest.digest())
        targets.append(squeezed_target)
    return digests, minhash_signatures(targets)


DEDUP_SLICE_ROWS = 20_000


def dedup_keys(candidates: pl.DataFrame) -> tuple[pl.Series, np.ndarray]:
    """`_dedup_keys` of every candidate, DEDUP_SLICE_ROWS rows at a time (the Python strings of one slice at once):
    the digests as a Binary series, the signatures as a (rows, NUM_BINS) uint32 array."""
    digest_list, signature_parts = [], []
    for start in range(0, max(1, candidates.height), DEDUP_SLICE_ROWS):
        with gc_paused():
            digests_part, signatures_part = _dedup_keys(
                list(candidates.slice(start, DEDUP_SLICE_ROWS).select("task", "input", "target").iter_rows()))
        digest_list.extend(digests_part)
        signature_parts.append(signatures_part)
    return pl.Series(digest_list, dtype=pl.Binary), np.concatenate(signature_parts)


def duplicate_decisions(digests: pl.Series, signatures: np.ndarray, language_task: pl.DataFrame, threshold: float,
                        dropped: Counter, decided: np.ndarray | None = None) -> np.ndarray:
    """Which candidates stay (a boolean mask, in candidate order): the first of each digest, then, within each
    (language, task), not a near duplicate of an earlier kept one. `decided`: this mask for the first candidates,
    known already (the previous run's, for an unchanged prefix: each decision depends on earlier candidates only)."""
    first_seen = digests.is_first_distinct()
    dropped["duplicate_example"] += int((~first_seen).sum())
    first = first_seen.to_numpy()
    groups = language_task.filter(first_seen).select(pl.struct("language", "task").rank("dense")).to_series().to_numpy()
    # the known decisions among the first-of-their-digest rows: dropped there means near-duplicate
    known = None if decided is None else ~decided[first[:len(decided)]]
    near = near_duplicates(signatures[first], groups, threshold, known)
    dropped["near_duplicate"] += int(near.sum())
    keep = first.copy()
    keep[np.flatnonzero(first)[near]] = False
    return keep


def remove_duplicates(candidates: pl.DataFrame, threshold: float, dropped: Counter) -> pl.DataFrame:
    """Exact duplicates by (task, input, target) without whitespace; near duplicates by MinHash-LSH on the target
    without whitespace, within each (language, task).

    This runs in one process: forking a second one costs more here than the hashing it would take over."""
    digests, signatures = dedup_keys(candidates)
    keep = duplicate_decisions(digests, signatures, candidates.select("language", "task"), threshold, dropped)
    return candidates.filter(pl.Series(keep))


def build_examples(chunks: pl.DataFrame | Iterable[pl.DataFrame], test_chunks: pl.DataFrame,
                   config: ExampleConfig = ExampleConfig()) -> ExampleResult:
    """Score every analysed chunk, keep those at or above the threshold, and turn them into examples — column-wise,
    over the whole frame (polars spreads it over the cores).

    `chunks` may be an iterable of parts (the preprocessing's batches, in id order, read one at a time): each part is
    scored on its own and only its passing chunks are kept for what follows, so the chunks below the threshold never
    sit in memory together; the result is the same as for the concatenated frame."""
    dropped: Counter = Counter()
    parts = [chunks] if isinstance(chunks, pl.DataFrame) else chunks
    passing, all_scores = [], []
    for part in parts:
        scored_part = score_chunks(part, config.weights).with_columns(
            passed=pl.col("quality_score") >= config.quality_threshold)
        all_scores.append(scored_part.select("id", "language", "repo", "file_path", "quality_score", "passed",
                                             "breakdown"))
        passing.append(scored_part.filter(pl.col("passed")))
    scores = pl.concat(all_scores)
    del all_scores
    splits = assign_splits(scores.filter(pl.col("passed")).select("language", "repo", "file_path"),
                           config.eval_fraction, config.seed)
    split_frame = pl.DataFrame([(repo, path, split) for (repo, path), split in splits.items()],
                               schema={"repo": pl.String, "file_path": pl.String, "split": pl.String}, orient="row")
    # the split is kept per chunk (null below the threshold): later stages read it instead of deciding again
    scores = scores.join(split_frame, on=["repo", "file_path"], how="left", maintain_order="left").with_columns(
        split=pl.when("passed").then("split")).select("id", "language", "quality_score", "passed", "breakdown", "split")
    dropped["below_quality_threshold"] = int((~scores["passed"]).sum())
    passed = pl.concat(passing).join(split_frame, on=["repo", "file_path"], how="left", maintain_order="left")
    del passing

    candidates = pl.concat([_item_tasks(passed), _test_tasks(passed, test_chunks)])
    del passed
    too_long_input = pl.col("input").str.len_chars() > config.max_input_chars
    too_long_target = ~too_long_input & (pl.col("target").str.len_chars() > config.max_target_chars)
    dropped["input_too_long"] += candidates.select(too_long_input.sum()).item()
    dropped["target_too_long"] += candidates.select(too_long_target.sum()).item()
    candidates = candidates.filter(~too_long_input & ~too_long_target)

    kept = remove_duplicates(candidates, config.near_duplicate_threshold, dropped)
    examples = kept.select(
        "input", "target", "language", "task", "quality_score", source_id=pl.col("id").cast(pl.String),
        code_chunk_id="id", repo="repo", file_path="file_path", split="split", quality_breakdown="breakdown",
    ).cast(EXAMPLE_SCHEMA)
    return ExampleResult(examples=examples, scores=scores, dropped=+dropped)
