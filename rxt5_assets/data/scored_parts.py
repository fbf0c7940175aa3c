"""Scoring and example building part by part, with what depends only on a part cached under its fingerprint.

What a part's chunks alone decide — each chunk's quality score and breakdown, whether it passes, its item-task
candidates (implement, generate, document, its own tests) after the length limits, and each candidate's dedup keys (the
digest of task, input and target without whitespace, and the MinHash signature of the target) — is computed once per
(part fingerprint, scoring key) and kept in the run's `scored_parts/` folder; the next run hard-links the files of the
parts it still has (carry.py names a part by its rows and the analyser versions). The scoring key: the quality weights,
the threshold, the length limits and a hash of this module, examples.py and quality.py.

What depends on the whole table runs on every run, column-wise over the cached columns: the split by file (a
language's first eval file depends on all its files), the test tasks that join items of one file to its test module or
an ExUnit module to its subject (a few rows: only the chunks of files with a test module, and modules named by a test
chunk, are read), exact deduplication on the digests and MinHash-LSH on the signatures in candidate order (the first
kept wins), and the examples themselves, written part by part. The result equals `build_examples` on all parts at once
(tested), and memory holds the dedup keys and the scores, not every candidate's text.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from rxt5_assets.data.carry import source_hash, unique_temporary
from rxt5_assets.data.examples import (EXAMPLE_SCHEMA, NUM_BINS, ExampleConfig, _item_tasks, _test_tasks,
                                      assign_splits, dedup_keys, duplicate_decisions)
from rxt5_assets.data.quality import score_chunks

MANIFEST = "manifest.json"
SPLITS = "splits.parquet"  # this run's split of every file with a passing chunk
FORMAT = 2  # 2: a part's testable chunks are cached with it
_CACHED = ("scores", "candidates", "testable")  # a part's cached files: <fingerprint>-<key hash>.<suffix>.parquet
_LIST_COLUMNS = ("patterns", "concepts", "identifiers")  # only the pair matcher reads these
_TEST_TASK_COLUMNS = ("id", "language", "repo", "file_path", "kind", "name", "content")  # what _test_tasks reads
_SCORE_COLUMNS = ("id", "language", "repo", "file_path", "kind", "name", "quality_score", "passed", "breakdown")


def scoring_key(config: ExampleConfig) -> dict:
    from rxt5_assets.data import examples, quality

    return {"format": FORMAT, "quality_threshold": config.quality_threshold,
            "max_input_chars": config.max_input_chars, "max_target_chars": config.max_target_chars,
            "weights": json.loads(json.dumps(asdict(config.weights))),
            "code": source_hash(Path(__file__), Path(examples.__file__), Path(quality.__file__))}


def _too_long(candidates: pl.DataFrame, config: ExampleConfig, dropped: Counter) -> pl.DataFrame:
    too_long_input = pl.col("input").str.len_chars() > config.max_input_chars
    too_long_target = ~too_long_input & (pl.col("target").str.len_chars() > config.max_target_chars)
    dropped["input_too_long"] += candidates.select(too_long_input.sum()).item()
    dropped["target_too_long"] += candidates.select(too_long_target.sum()).item()
    return candidates.filter(~too_long_input & ~too_long_target)


def _with_keys(candidates: pl.DataFrame) -> pl.DataFrame:
    digests, signatures = dedup_keys(candidates)
    return candidates.with_columns(digest=digests, signature=pl.Series(signatures, dtype=pl.Array(pl.UInt32,
                                                                                                 NUM_BINS)))


def score_part(chunks: pl.DataFrame, config: ExampleConfig) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    """One part: its scores (_SCORE_COLUMNS), its item-task candidates within the length limits with their dedup keys
    (no split: that is decided over the whole table), its testable chunks (what the test tasks may read of it: every
    passing test module, named module, and chunk of a file whose test module is in this part) and how many
    candidates the limits dropped."""
    scored = score_chunks(chunks, config.weights).with_columns(passed=pl.col("quality_score") >= config.quality_threshold)
    passed = scored.filter(pl.col("passed")).with_columns(split=pl.lit(None, dtype=pl.String))
    dropped: Counter = Counter()
    candidates = _with_keys(_too_long(_item_tasks(passed).drop("split"), config, dropped))
    tested_files = passed.filter(pl.col("kind") == "test_module").select("repo", "file_path").unique()
    testable = passed.filter(
        (pl.col("kind") == "test_module") | (pl.col("kind").is_in(["module", "module_header"]) & (pl.col("name") != ""))
        | pl.struct("repo", "file_path").is_in(tested_files.select(pl.struct("repo", "file_path")).to_series().implode())
    ).select(_TEST_TASK_COLUMNS)
    return scored.select(_SCORE_COLUMNS), candidates, testable, {k: int(v) for k, v in dropped.items()}


@dataclass
class PartScoring:
    """The result of `build_examples_by_part`."""

    scores: pl.DataFrame  # id, language, quality_score, passed, breakdown, split — one row per chunk
    examples: int
    dropped: Counter = field(default_factory=Counter)
    parts_scored: int = 0
    parts_from_cache: int = 0
    parts_carried: int = 0  # parts whose examples are the previous run's (on_examples(None, index))


def build_examples_by_part(parts: list[tuple[str, Path]], test_chunks: pl.DataFrame, config: ExampleConfig,
                           cache: Path, on_examples, previous_cache: Path | None = None,
                           on_scores=None, carriable: int = 0) -> PartScoring:
    """`build_examples` over (fingerprint, part file) in order: per-part work from `previous_cache` where its key
    matches, else computed now, either way kept in `cache` (this run's folder). The examples go to
    `on_examples(frame, index)` a part at a time, in order (EXAMPLE_SCHEMA; their concatenation is build_examples'
    examples; index len(parts) is the test tasks'); `on_scores(scores, candidates)` hears of the scores and of how
    many candidates (before deduplication, the test tasks' aside) may come as frames, before the first examples.

    The dedup decisions of the leading parts that are the previous run's stand (see _decided_prefix); of those, the
    first `carriable` (the caller has the previous run's examples of those parts at hand) come as
    `on_examples(None, index)` — the previous run's part `index`, unchanged — when no file changed sides."""
    key = scoring_key(config)
    tag = hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=6).hexdigest()
    cache.mkdir(parents=True, exist_ok=True)
    prior, prior_order = {}, {}
    if previous_cache is not None and (previous_cache / MANIFEST).exists():
        try:
            manifest = json.loads((previous_cache / MANIFEST).read_text())
            if manifest.get("key") == key:
                prior, prior_order = manifest["parts"], manifest.get("order", {})
        except (json.JSONDecodeError, KeyError):
            prior, prior_order = {}, {}
    entries: dict[str, dict] = {}
    result = PartScoring(scores=pl.DataFrame(), examples=0)
    score_parts, part_ids, digests, signatures, language_task = [], [], [], [], []
    for fingerprint, path in parts:
        scores_file, candidates_file = cache / f"{fingerprint}-{tag}.scores.parquet", \
            cache / f"{fingerprint}-{tag}.candidates.parquet"
        if fingerprint in entries:
            pass
        elif fingerprint in prior and _link(previous_cache, cache, f"{fingerprint}-{tag}"):
            entries[fingerprint] = prior[fingerprint]
            result.parts_from_cache += 1
        else:
            columns = [name for name in pl.read_parquet_schema(path) if name not in _LIST_COLUMNS]
            scores, candidates, testable, too_long = score_part(pl.read_parquet(path, columns=columns), config)
            _write(scores, scores_file)  # a new file (rename), never into a file linked from another run
            _write(candidates, candidates_file)
            _write(testable, cache / f"{fingerprint}-{tag}.testable.parquet")
            entries[fingerprint] = {"too_long": too_long}
            result.parts_scored += 1
        result.dropped.update(entries[fingerprint]["too_long"])
        score_parts.append(pl.read_parquet(scores_file))
        part_ids.append(score_parts[-1]["id"])
        keys = pl.read_parquet(candidates_file, columns=["language", "task", "digest", "signature"])
        digests.append(keys["digest"])
        signatures.append(keys["signature"].to_numpy())
        language_task.append(keys.select("language", "task"))
    counts = [len(part) for part in digests]
    prefix = _decided_prefix([fingerprint for fingerprint, _ in parts], counts, prior_order, previous_cache)
    carried = min(prefix.parts, carriable)
    current = {f"{fingerprint}-{tag}.{suffix}.parquet" for fingerprint in entries for suffix in _CACHED}
    for stale in [*cache.glob("*.parquet"), *cache.glob("*.npy")]:  # scored before with other parts or another key
        if stale.name not in current and not (cache == previous_cache and stale.name == SPLITS):
            stale.unlink(missing_ok=True)

    all_scores = pl.concat(score_parts) if score_parts else pl.DataFrame(schema={
        "id": pl.Int64, "language": pl.String, "repo": pl.String, "file_path": pl.String, "kind": pl.String,
        "name": pl.String, "quality_score": pl.Float64, "passed": pl.Boolean, "breakdown": pl.String})
    del score_parts
    passing = all_scores.filter(pl.col("passed"))
    splits = assign_splits(passing.select("language", "repo", "file_path"), config.eval_fraction, config.seed)
    split_frame = pl.DataFrame([(repo, path, split) for (repo, path), split in splits.items()],
                               schema={"repo": pl.String, "file_path": pl.String, "split": pl.String}, orient="row")
    result.scores = all_scores.join(split_frame, on=["repo", "file_path"], how="left", maintain_order="left").with_columns(
        split=pl.when("passed").then("split")).select("id", "language", "quality_score", "passed", "breakdown", "split")
    result.dropped["below_quality_threshold"] = int((~all_scores["passed"]).sum())
    # a part's examples are the previous run's when its candidates and their decisions are (the decided prefix) and
    # no file changed sides (the split of a file depends on the whole table: its first eval file)
    if carried and not _same_splits(previous_cache / SPLITS, split_frame):
        carried = 0
    _write(split_frame, cache / SPLITS)
    # the carried parts are handed on before the test tasks and the dedup run: the caller stores them meanwhile
    if on_scores is not None:
        on_scores(result.scores, sum(counts[carried:]))
    for index in range(carried):
        on_examples(None, index)
        result.examples += int(prefix.keep[sum(counts[:index]):sum(counts[:index + 1])].sum())
        result.parts_carried += 1

    # the test tasks join chunks across parts: read whole only the chunks they can use
    subjects = test_chunks.filter(pl.col("name").str.ends_with("Test")).select(
        pl.col("name").str.strip_suffix("Test")).to_series()
    test_files = passing.filter(pl.col("kind") == "test_module").select("repo", "file_path").unique()
    wanted = passing.join(test_files, on=["repo", "file_path"], how="semi").select("id").vstack(
        passing.filter(pl.col("kind").is_in(["module", "module_header"]) & (pl.col("name") != "")
                       & pl.col("name").is_in(subjects.implode())).select("id"))["id"].unique()
    del passing, all_scores
    relevant = []
    for (fingerprint, path), ids in zip(parts, part_ids):
        if not wanted.len() or not ids.is_in(wanted.implode()).any():
            continue
        # the part's testable chunks are cached with it; only a chunk whose file's test module is in another part
        # (a file across a part boundary) is read from the part itself
        rows = pl.read_parquet(cache / f"{fingerprint}-{tag}.testable.parquet").filter(
            pl.col("id").is_in(wanted.implode()))
        elsewhere = ids.filter(ids.is_in(wanted.implode()) & ~ids.is_in(rows["id"].implode()))
        if elsewhere.len():
            rows = pl.concat([rows, pl.scan_parquet(path).select(_TEST_TASK_COLUMNS).filter(
                pl.col("id").is_in(elsewhere.implode())).collect()]).sort("id")
        relevant.append(rows)
    passed = pl.concat(relevant) if relevant else None
    if passed is not None and passed.height:
        passed = passed.join(result.scores.select("id", "quality_score", "breakdown", "split"), on="id",
                             maintain_order="left")
        test_candidates = _test_tasks(passed, test_chunks)
    else:
        test_candidates = pl.DataFrame(schema={name: EXAMPLE_SCHEMA.get(name, pl.String) for name in (
            "language", "quality_score", "id", "repo", "file_path", "breakdown", "split", "task", "input", "target")}
                                       | {"id": pl.Int64, "quality_score": pl.Float64})
    test_candidates = _with_keys(_too_long(test_candidates, config, result.dropped))
    digests.append(test_candidates["digest"])
    signatures.append(test_candidates["signature"].to_numpy().reshape(-1, NUM_BINS))
    language_task.append(test_candidates.select("language", "task"))

    keep = duplicate_decisions(pl.concat(digests), np.concatenate([s.reshape(-1, NUM_BINS) for s in signatures]),
                               pl.concat(language_task), config.near_duplicate_threshold, result.dropped,
                               decided=prefix.keep)
    del digests, signatures, language_task
    # this run's decisions, in part order, for the next run (the test candidates' last: never carried)
    temporary = unique_temporary(cache / f"decisions-{tag}.npy")
    with temporary.open("wb") as handle:
        np.save(handle, keep[:sum(counts)])
    temporary.replace(cache / f"decisions-{tag}.npy")
    # replaced by a rename, never written in place: a run's folder may hard-link the upstream run's file
    temporary = unique_temporary(cache / MANIFEST)
    temporary.write_text(json.dumps({"key": key, "parts": entries, "order": {
        "fingerprints": [fingerprint for fingerprint, _ in parts], "counts": counts,
        "decisions": f"decisions-{tag}.npy"}}))
    temporary.replace(cache / MANIFEST)
    ends = np.cumsum([0, *counts, test_candidates.height])
    for index, (fingerprint, _) in enumerate([*parts, ("tests", None)]):
        part_keep = keep[ends[index]:ends[index + 1]]
        if index < carried:
            continue  # handed on already
        if fingerprint == "tests":
            candidates = test_candidates
        else:
            candidates = pl.read_parquet(cache / f"{fingerprint}-{tag}.candidates.parquet").drop("digest", "signature")
            candidates = candidates.join(split_frame, on=["repo", "file_path"], how="left", maintain_order="left")
        kept = candidates.filter(pl.Series(part_keep))
        examples = kept.select(
            "input", "target", "language", "task", "quality_score", source_id=pl.col("id").cast(pl.String),
            code_chunk_id="id", repo="repo", file_path="file_path", split="split", quality_breakdown="breakdown",
        ).cast(EXAMPLE_SCHEMA)
        on_examples(examples, index)
        result.examples += examples.height
    result.dropped = +result.dropped
    return result


@dataclass
class _Prefix:
    parts: int = 0  # leading parts whose candidates and decisions are the previous run's
    keep: np.ndarray | None = None  # the decisions of their candidates


def _decided_prefix(fingerprints: list[str], counts: list[int], prior_order: dict,
                    previous_cache: Path | None) -> _Prefix:
    """The leading parts this run shares with the previous one (same fingerprints in the same places, same scoring
    key) and the previous run's dedup decisions for their candidates: a candidate's decision depends only on the
    candidates before it, so theirs stand."""
    previous = prior_order.get("fingerprints", [])
    parts = 0
    while parts < min(len(previous), len(fingerprints)) and previous[parts] == fingerprints[parts] \
            and prior_order["counts"][parts] == counts[parts]:
        parts += 1
    if not parts:
        return _Prefix()
    try:
        decisions = np.load(previous_cache / prior_order["decisions"])
    except (OSError, ValueError, KeyError):
        return _Prefix()
    rows = sum(counts[:parts])
    if decisions.dtype != np.bool_ or len(decisions) != sum(prior_order["counts"]):
        return _Prefix()
    return _Prefix(parts, decisions[:rows])


def _same_splits(previous: Path, current: pl.DataFrame) -> bool:
    """No file of the previous run's split is on another side now."""
    try:
        before = pl.read_parquet(previous)
    except (OSError, pl.exceptions.PolarsError):
        return False
    return before.join(current, on=["repo", "file_path"], how="inner", suffix="_now").filter(
        pl.col("split") != pl.col("split_now")).height == 0


def _write(frame: pl.DataFrame, path: Path) -> None:
    temporary = unique_temporary(path)
    frame.write_parquet(temporary)
    temporary.replace(path)


def _link(source: Path, target: Path, stem: str) -> bool:
    """Hard-link a part's cached files from the previous run's folder; False when they are gone. A file of that
    name already here holds the same (the name is the part's fingerprint and the scoring key's hash)."""
    linked = []
    try:
        for suffix in _CACHED:
            name = f"{stem}.{suffix}.parquet"
            if not (target / name).exists():
                os.link(source / name, target / name)
                linked.append(target / name)
        return True
    except FileNotFoundError:
        for path in linked:
            path.unlink(missing_ok=True)
        return False

