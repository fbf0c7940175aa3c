"""The data stage end to end, as plain functions over a connection and a folder.

The Dagster assets call these one by one; each reads what the previous one wrote under `work_dir`
and adds its own files, so any stage can be re-run on its own. `funnel.json` accumulates, stage by stage, how many rows
went in and why the others were dropped — it is what the "insufficient data" error quotes.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import psycopg

from rxt5_assets.data.analysis_cache import analyser_versions, fetch_rows, row_list, snapshot_reader, store_analyses
from rxt5_assets.data.carry import (LEDGER, LEDGER_SCHEMA, ROW_IDENTITY, PartRecord, Prior, fingerprint, read_manifest,
                                   unique_temporary, write_manifest)
from rxt5_assets.data.chunks import table_summary
from rxt5_assets.data.dataset import MixConfig, files_on_both_sides, mix_training_split, write_jsonl
from rxt5_assets.data.examples import EXAMPLE_SCHEMA, ExampleConfig
from rxt5_assets.data.pairs import PairConfig, match_pairs, pair_examples
from rxt5_assets.data.quality import QualityWeights
from rxt5_assets.data.preprocess import Preprocessor
from rxt5_assets.db.sessions import (PROBE_ROWS, ContentIndex, contents_epoch, create_session, derive_session,
                                     link_examples, lock_session, store_examples, update_session)
from rxt5_assets.errors import InsufficientDataError

TEST_EXAMPLES = "tests.parquet"  # the test tasks' examples, after every part's
CONTENTS_EPOCH = "contents_epoch.json"  # in the examples folder: see _stored_ids_hold
PAIR_TASKS = ("translate", "concept_transfer")
PAIR_LANGUAGES = ("rust->elixir", "elixir->rust")  # pair_examples' directions
PAIR_COLUMNS = ("id", "language", "repo", "file_path", "kind", "name", "identifiers", "concepts")
PAIR_EXAMPLE_COLUMNS = ("id", "language", "repo", "file_path", "name", "content", "closing", "doc")


@dataclass(frozen=True)
class PrepareConfig:
    """The seed's `prepare_multi_language_training` options."""

    name: str = "rust_elixir_v1"
    languages: tuple[str, ...] = ("rust", "elixir")
    max_examples: int = 20000
    quality_threshold: float = 0.7
    cross_language_learning: bool = True
    min_length: int = 50
    exclude_path_pattern: str = "%test%"
    rust_weight: float = 1.0
    elixir_weight: float = 1.0
    cross_language_weight: float = 1.0
    pair_threshold: float = 0.35
    eval_fraction: float = 0.1
    min_examples: int = 50  # per requested language, in the training split
    seed: int = 42
    workers: int = 1
    quality_weights: QualityWeights = field(default_factory=QualityWeights)
    batch_size: int = 20_000  # code_chunks rows fetched (and analysed, and written as one parquet part) at a time
    analysis_cache: bool = True  # reuse and store per-chunk analyses in chunk_analyses
    # retrieval-augmented examples (rxt5_assets/retrieval/augment.py): implement/generate inputs carry the context
    # generation with RAG gets, retrieved from train-side files of the same repo, the example's own chunk excluded
    retrieval_augmented: bool = False
    retrieval_k: int = 2
    retrieval_method: str = "fts"

    def example_config(self) -> ExampleConfig:
        return ExampleConfig(quality_threshold=self.quality_threshold, eval_fraction=self.eval_fraction, seed=self.seed,
                             weights=self.quality_weights)

    def mix_config(self) -> MixConfig:
        return MixConfig(self.rust_weight, self.elixir_weight, self.cross_language_weight,
                         self.cross_language_learning, self.max_examples, self.seed)


@dataclass
class StageFiles:
    """One run's folder of stage outputs. Every output is written under a temporary name of this process and published
    by an atomic rename, so a reader sees a whole file (or folder of parts) or none."""

    work_dir: Path

    def __post_init__(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)

    @property
    def chunks(self) -> Path:
        return self.work_dir / "preprocessed_chunks"  # a folder of parquet parts, one per batch of code_chunks rows

    @property
    def test_chunks(self) -> Path:
        return self.work_dir / "test_chunks"

    @property
    def scores(self) -> Path:
        return self.work_dir / "chunk_scores.parquet"

    @property
    def examples(self) -> Path:
        # a folder: part-NNNNN.parquet per preprocessed part (with part-NNNNN.ids.npy, the ids of its stored
        # contents, which the next run links instead of storing again) and the test tasks' TEST_EXAMPLES
        return self.work_dir / "examples"

    def example_parts(self) -> list[Path]:
        """The example files in order (a folder written before examples were kept by part: its one file)."""
        if self.examples.is_dir():
            tests = self.examples / TEST_EXAMPLES
            return sorted(self.examples.glob("part-*.parquet")) + ([tests] if tests.exists() else [])
        if (self.work_dir / "examples.parquet").exists():
            return [self.work_dir / "examples.parquet"]
        raise FileNotFoundError(f"examples are missing in {self.work_dir}: materialize scored_examples first")

    def read_examples(self, columns: list[str] | None = None) -> pl.DataFrame:
        return pl.concat([pl.read_parquet(path, columns=columns) for path in self.example_parts()])

    @property
    def scored_parts(self) -> Path:
        return self.work_dir / "scored_parts"  # per-part scores and example candidates, by part fingerprint

    @property
    def pairs(self) -> Path:
        return self.work_dir / "pairs.parquet"

    @property
    def pair_examples(self) -> Path:
        return self.work_dir / "pair_examples.parquet"

    @property
    def pair_candidates(self) -> Path:
        return self.work_dir / "pair_candidates.parquet"  # every chunk's match candidates, for the next run

    @property
    def pair_examples_stored(self) -> Path:
        # per pair example: its pair, the pair's key and the t5_example_contents id (carried_pairs.py)
        return self.work_dir / "pair_examples_stored.parquet"

    @property
    def pair_contents_epoch(self) -> Path:
        return self.work_dir / "pair_examples_stored.epoch.json"  # see _stored_ids_hold

    @property
    def session(self) -> Path:
        return self.work_dir / "session.json"

    @property
    def funnel(self) -> Path:
        return self.work_dir / "funnel.json"

    def read_json(self, path: Path) -> dict:
        if not path.exists():
            raise FileNotFoundError(f"{path.name} is missing in {self.work_dir}: materialize the upstream asset first")
        return json.loads(path.read_text())

    def write_json(self, path: Path, value: dict) -> None:
        temporary = unique_temporary(path)
        temporary.write_text(json.dumps(value, indent=2, default=str))
        temporary.replace(path)

    def write_parquet(self, frame: pl.DataFrame, path: Path) -> None:
        temporary = unique_temporary(path)
        frame.write_parquet(temporary)
        temporary.replace(path)

    @contextmanager
    def publishing_folder(self, path: Path):
        """A temporary folder to fill; on success it replaces `path` as a whole (rename), on failure it is removed."""
        temporary = unique_temporary(path)
        temporary.mkdir(parents=True)
        try:
            yield temporary
            if path.exists():
                retired = unique_temporary(path)
                path.rename(retired)
                temporary.rename(path)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                temporary.rename(path)
        finally:
            if temporary.exists():
                shutil.rmtree(temporary, ignore_errors=True)

    @staticmethod
    def parts(folder: Path) -> list[Path]:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder.name} is missing in {folder.parent}: materialize the upstream asset first")
        return sorted(folder.glob("part-*.parquet"))

    def read_parts(self, folder: Path, columns: list[str] | None = None) -> pl.DataFrame:
        return pl.concat([pl.read_parquet(part, columns=columns) for part in self.parts(folder)])

    def record_funnel(self, stage: str, rows_in: int, kept: int, dropped: Counter | dict) -> None:
        funnel = json.loads(self.funnel.read_text()) if self.funnel.exists() and stage != "preprocess" else {}
        funnel[stage] = {"rows_in": rows_in, "kept": kept, "dropped": dict(dropped)}
        self.write_json(self.funnel, funnel)


def insufficient_data_message(found: dict[str, int], needed: int, funnel: dict) -> str:
    removed = Counter()
    for stage in funnel.values():
        removed.update(stage.get("dropped", {}))
    filters = ", ".join(f"{reason} {count}" for reason, count in removed.most_common()) or "none"
    found_text = ", ".join(f"{language} {count}" for language, count in found.items())
    return (
        f"insufficient training data: found {found_text} training examples, needed at least {needed} per language. "
        f"Filters removed: {filters}. Ingest more code (`rxt5 ingest PATH`), lower quality_threshold, or lower "
        f"min_examples."
    )


def _second_connection(conn: psycopg.Connection) -> psycopg.Connection:
    """An autocommit connection to the same database: analyses are stored batch by batch, outside the transaction
    that streams the rows."""
    return psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True)


def carry_key(config: PrepareConfig) -> dict:
    """What the previous run's preprocessed folder must have been made with for this run to carry it (carry.py)."""
    from rxt5_assets import languages
    from rxt5_assets.data import carry, preprocess

    return {"format": carry.FORMAT, "languages": list(config.languages), "min_length": config.min_length,
            "exclude_path_pattern": config.exclude_path_pattern, "max_chars": preprocess.MAX_CHUNK_CHARS,
            "analysers": analyser_versions(languages.names()),
            "code": carry.source_hash(Path(carry.__file__), Path(__file__))}


def _batches(ids, prior: Prior | None, batch_size: int) -> list[tuple[int, int, PartRecord | None]]:
    """(start, stop) positions in the id-ordered row list and the previous run's part covering them: the previous
    parts' id ranges first, then batches of `batch_size` rows beyond the last of them."""
    import numpy as np

    ids = np.asarray(ids)
    batches, start = [], 0
    for part in prior.parts if prior is not None else []:
        stop = int(np.searchsorted(ids, part.last_id, side="right"))
        batches.append((start, stop, part))
        start = stop
    while start < len(ids) or not batches:
        stop = min(len(ids), start + batch_size)
        batches.append((start, stop, None))
        start = stop
    return batches


def preprocess_stage(conn: psycopg.Connection, files: StageFiles, config: PrepareConfig,
                     max_chunk_id: int | None = None, previous: StageFiles | None = None) -> dict:
    """List code_chunks without its content (one snapshot), then batch by batch: fetch the rows the previous run's
    ledger does not know as they are (all of them without `previous`), deduplicate by content hash across the whole
    table, analyse what neither the analysis cache nor the previous parts hold, and write one parquet part per batch
    — or hard-link the previous part when none of its rows changed (carry.py). Memory follows the batch size, not the
    table. `max_chunk_id` (the retraining sensor's run tag) stops at the rows the sensor counted; later rows belong
    to the next run."""
    snapshot = table_summary(conn)
    if max_chunk_id is not None:
        snapshot["max_id"] = min(snapshot["max_id"], max_chunk_id)
    versions = analyser_versions(config.languages)
    cached = config.analysis_cache
    preprocessor = Preprocessor(config.languages, min_length=config.min_length,
                                exclude_path_pattern=config.exclude_path_pattern, workers=config.workers,
                                versions=versions if cached else None)
    key = carry_key(config)
    started = time.perf_counter()
    patterns: Counter = Counter()
    dropped: Counter = Counter()
    per_language: Counter = Counter()
    records: list[PartRecord] = []
    ledgers: list[pl.DataFrame] = []
    seen: set[str] = set()
    counts = {"accepted": 0, "tests": 0, "carried": 0, "fetched": 0, "parts_carried": 0}
    writer = _second_connection(conn) if cached else None
    try:
        with snapshot_reader(conn) as reader, files.publishing_folder(files.chunks) as chunks_dir, \
                files.publishing_folder(files.test_chunks) as tests_dir:
            rows = row_list(reader, snapshot["max_id"])
            prior = None
            if cached and previous is not None and previous.chunks.is_dir():
                prior = Prior.load(previous.chunks, previous.test_chunks, key, chunks_dir / ".prior")
            batches = _batches(rows["id"], prior, config.batch_size)
            for index, (start, stop, part) in enumerate(batches):
                record, ledger = _preprocess_batch(
                    reader, writer, preprocessor, versions if cached else {}, rows.slice(start, stop - start), prior,
                    part, seen, f"part-{index:05d}.parquet", chunks_dir, tests_dir, key, dropped, counts)
                record.last_id = part.last_id if part is not None else (
                    int(rows["id"][stop - 1]) if stop > start else snapshot["max_id"])
                patterns.update(record.patterns)
                records.append(record)
                ledgers.append(ledger)
            ledger = pl.concat(ledgers) if ledgers else pl.DataFrame(schema=LEDGER_SCHEMA)
            for frame in ledgers:
                per_language.update(dict(frame.filter(pl.col("result") == "accepted").group_by("language").len()
                                         .iter_rows()))
            shutil.rmtree(chunks_dir / ".prior", ignore_errors=True)
            write_manifest(chunks_dir, key, records, ledger)
            first = next((r.file for r in records if r.rows), records[0].file)
            preview = pl.read_parquet(chunks_dir / first, n_rows=20)
    finally:
        if writer is not None:
            writer.close()
    conn.commit()
    seconds = time.perf_counter() - started
    stats = preprocessor.stats
    rows_in = rows.height
    files.record_funnel("preprocess", rows_in, counts["accepted"], dropped)
    return {"rows_in": rows_in, "accepted": counts["accepted"], "test_chunks": counts["tests"],
            "dropped": dict(dropped), "per_language": dict(sorted(per_language.items())),
            "max_chunk_id": snapshot["max_id"], "megabytes": round(float(rows["bytes"].fill_null(0).sum()) / 1e6, 3),
            "seconds": round(seconds, 3), "workers": config.workers, "analysed": stats.analysed,
            "cached": stats.cached + counts["carried"], "carried": counts["carried"], "fetched": counts["fetched"],
            "parts": len(records), "parts_carried": counts["parts_carried"],
            "batch_size": config.batch_size, "patterns": patterns, "preview": preview, "schema": preview.head(0)}


_ANALYSED = ("candidate", "test_path")  # the outcomes whose rows go on to be analysed (or are duplicates)
_KEPT = ("accepted", "test", "test_failed")  # results that are no drop reason


def _known_classes(rows: pl.DataFrame, seen: set, dropped: Counter) -> tuple[list, list] | None:
    """The loop of _preprocess_batch for a batch whose every row the ledger knows as it is (id, content_hash,
    outcome, result), column-wise: (outcomes, results), the counts added to `dropped`, the batch's first hashes added
    to `seen`. None (nothing changed) when a row would need an analysis: the loop handles that batch."""
    outcome, result = rows["outcome"], rows["result"]
    candidate = (outcome == "candidate").fill_null(False)
    hashes = rows.filter(candidate)["content_hash"]
    # a duplicate: a candidate whose hash an earlier row had (an earlier batch's, or this batch's)
    first = hashes.is_first_distinct().to_numpy() & ~np.fromiter(
        (value in seen for value in hashes.to_list()), dtype=bool, count=hashes.len())
    duplicate = np.zeros(rows.height, dtype=bool)
    duplicate[np.flatnonzero(candidate.to_numpy())] = ~first
    duplicate = pl.Series(duplicate)
    analysed = outcome.is_in(_ANALYSED) & ~duplicate
    if (analysed & result.is_null()).any():
        return None
    seen.update(hashes.filter(pl.Series(first)).to_list())
    # the loop's counts, a reason only where it counted one (the funnel lists no zeros)
    reasons = pl.concat([outcome.filter(~outcome.is_in(_ANALYSED) | (outcome == "test_path")),
                         pl.Series(["duplicate_chunk"] * int(duplicate.sum()), dtype=pl.String),
                         result.filter(analysed & ~result.is_in(_KEPT))])
    dropped.update(dict(reasons.value_counts().iter_rows()))
    results = pl.DataFrame({"analysed": analysed, "result": result}).select(pl.when("analysed").then("result"))
    return outcome.to_list(), results.to_series().to_list()


def _preprocess_batch(reader, writer, preprocessor: Preprocessor, versions: dict, rows: pl.DataFrame,
                      prior: Prior | None, part: PartRecord | None, seen: set, name: str, chunks_dir: Path,
                      tests_dir: Path, key: dict, dropped: Counter, counts: dict) -> tuple[PartRecord, pl.DataFrame]:
    """One batch of the row list → its part, its test part and its ledger rows (see preprocess_stage)."""
    ids = rows["id"].to_list()
    known: dict[int, tuple[str, str | None]] = {}
    classes = None
    if prior is not None and part is not None and rows.height:
        previous = prior.ledger.filter(pl.col("id").is_between(ids[0], ids[-1]))
        same = rows.join(previous, on="id", how="inner", suffix="_was").filter(
            pl.all_horizontal(pl.col(c).eq_missing(pl.col(f"{c}_was")) for c in ROW_IDENTITY))
        if same.height == rows.height:  # every row as the ledger knows it: classified column-wise
            classes = _known_classes(rows.join(same.select("id", "outcome", "result"), on="id", how="left",
                                               maintain_order="left"), seen, dropped)
        if classes is None:
            known = {i: (outcome, result) for i, outcome, result in same.select("id", "outcome", "result").iter_rows()}
        else:
            known = dict.fromkeys(ids)  # only membership is asked of it below
    fresh = [i for i in ids if i not in known]
    fetched = {row[0]: row for row in fetch_rows(reader, versions, fresh)}
    counts["fetched"] += len(fetched)
    outcomes: list[str] = []
    results: list[str | None] = []
    need: list[int] = []  # positions of unique candidates and test rows without a known result
    for chunk_id, content_hash in zip([] if classes is not None else ids, rows["content_hash"].to_list()):
        outcome, result = known[chunk_id] if chunk_id in known else (preprocessor.classify(fetched[chunk_id]), None)
        if outcome == "candidate":
            if content_hash in seen:  # the first row of a content hash, in id order, wins
                dropped["duplicate_chunk"] += 1
                outcomes.append(outcome)
                results.append(None)
                continue
            seen.add(content_hash)
        elif outcome == "test_path":
            dropped["test_path"] += 1
        else:
            dropped[outcome] += 1
            outcomes.append(outcome)
            results.append(None)
            continue
        if result is None:
            need.append(len(results))
        elif result not in ("accepted", "test", "test_failed"):
            dropped[result] += 1  # a candidate whose analysis failed (wrong_language, unparseable)
        outcomes.append(outcome)
        results.append(result)
    if classes is not None:
        outcomes, results = classes
    # analysed now: fresh rows and known ones never analysed before (a duplicate that became the first of its hash)
    missing = [ids[position] for position in need if ids[position] not in fetched]
    if missing:
        fetched.update((row[0], row) for row in fetch_rows(reader, versions, missing))
        counts["fetched"] += len(missing)
    pending = [fetched[ids[position]] for position in need]
    analysed = preprocessor.analyse(pending)
    if writer is not None:
        store_analyses(writer, preprocessor.stats.new_analyses)
        preprocessor.stats.new_analyses = []
    new_chunks: tuple[list, list] = ([], [])
    new_tests: tuple[list, list] = ([], [])
    for position, row, result in zip(need, pending, analysed):
        test = outcomes[position] == "test_path"
        reason = Preprocessor.failure(row, result)
        if reason is not None:
            results[position] = "test_failed" if test else reason
            if not test:  # test-path rows were counted as test_path
                dropped[reason] += 1
            continue
        results[position] = "test" if test else "accepted"
        target = new_tests if test else new_chunks
        target[0].append(row)
        target[1].append(result)
    ledger = rows.select("id", *ROW_IDENTITY).with_columns(
        outcome=pl.Series(outcomes, dtype=pl.String), result=pl.Series(results, dtype=pl.String))
    accepted = ledger.filter(pl.col("result") == "accepted")
    tests = ledger.filter(pl.col("result") == "test")
    counts["accepted"] += accepted.height
    counts["tests"] += tests.height
    record = PartRecord(file=name, last_id=0, fingerprint=fingerprint(key, accepted), rows=accepted.height,
                        tests=tests.height)
    carried_chunks = [i for i in accepted["id"].to_list() if i in known]
    carried_tests = [i for i in tests["id"].to_list() if i in known]
    counts["carried"] += len(carried_chunks) + len(carried_tests)
    if part is not None and not new_chunks[0] and not new_tests[0] and tests.height == part.tests \
            and record.fingerprint == part.fingerprint:
        os.link(prior.chunk_part(part), chunks_dir / name)  # nothing changed: the previous part as it is
        os.link(prior.test_part(part), tests_dir / name)
        record.carried, record.patterns = True, part.patterns
        counts["parts_carried"] += 1
        return record, ledger
    chunks = preprocessor.frame(*new_chunks)
    test_chunks = preprocessor.frame(*new_tests)
    if carried_chunks:
        chunks = pl.concat([pl.read_parquet(prior.chunk_part(part)).filter(pl.col("id").is_in(carried_chunks)),
                            chunks]).sort("id")
    if carried_tests:
        test_chunks = pl.concat([pl.read_parquet(prior.test_part(part)).filter(pl.col("id").is_in(carried_tests)),
                                 test_chunks]).sort("id")
    chunks.write_parquet(chunks_dir / name)
    test_chunks.write_parquet(tests_dir / name)
    record.patterns = dict(chunks.select(pl.col("patterns").explode().drop_nulls().value_counts()).unnest("patterns")
                           .iter_rows()) if chunks.height else {}
    return record, ledger


def scoring_stage(conn: psycopg.Connection, files: StageFiles, config: PrepareConfig,
                  dagster_run_id: str | None = None, previous: StageFiles | None = None) -> dict:
    """Scores and examples part by part (scored_parts.py): a part carried from `previous` (same fingerprint, same
    scoring key) is not scored again; the split, the test tasks and deduplication run over the whole table."""
    from rxt5_assets.data.scored_parts import build_examples_by_part

    parts = files.parts(files.chunks)
    carried = read_manifest(files.chunks)
    fingerprints = {record["file"]: record["fingerprint"] for record in carried["parts"]} if carried else {}
    # a folder without a manifest (written before carry.py): nothing to reuse, every part its own name
    named = [(fingerprints.get(path.name) or f"unnamed-{uuid.uuid4().hex}", path) for path in parts]
    # test chunks are targets of the ExUnit item → tests task only: their names and code
    test_chunks = pl.concat([pl.read_parquet(path, columns=["name", "content"]).filter(
        pl.col("name").str.ends_with("Test")) for path in files.parts(files.test_chunks)])
    previous_cache = previous.scored_parts if previous is not None and config.analysis_cache else None
    epoch = contents_epoch(conn)  # before anything is stored: a deletion meanwhile makes the next run store again
    carriable = _carriable_examples(conn, previous, epoch) if previous_cache is not None else 0
    session: dict = {}

    def on_scores(scores: pl.DataFrame, fresh: int) -> None:
        session_config = json.loads(json.dumps(asdict(config), default=list))  # tuples → lists, weights included
        # the session and its examples: one transaction (the caller commits), a new session for every run
        session["id"] = create_session(conn, config.name, list(config.languages), session_config,
                                       dagster_run_id=dagster_run_id,
                                       max_code_chunk_id=int(scores["id"].max()) if scores.height else None)
        session["store"] = ExampleStore(conn, session["id"], index=fresh > PROBE_ROWS)

    def on_examples(examples: pl.DataFrame | None, index: int) -> None:
        if index == len(named):  # the test tasks: decided over the whole table, never carried
            examples.write_parquet(folder / TEST_EXAMPLES)
            session["store"].put(examples)
            return
        name = f"part-{index:05d}"
        if examples is None:  # the previous run's part, unchanged: its file and its stored contents' ids
            for suffix in (".parquet", ".ids.npy"):
                os.link(previous.examples / f"{name}{suffix}", folder / f"{name}{suffix}")
            session["store"].link(np.load(folder / f"{name}.ids.npy"))
            return
        examples.write_parquet(folder / f"{name}.parquet")
        session["store"].put(examples, folder / f"{name}.ids.npy")

    with files.publishing_folder(files.examples) as folder:
        files.write_json(folder / CONTENTS_EPOCH, {"deletions": epoch})
        try:
            result = build_examples_by_part(named, test_chunks, config.example_config(), files.scored_parts,
                                            on_examples, previous_cache, on_scores=on_scores, carriable=carriable)
            files.write_parquet(result.scores, files.scores)  # while the store thread finishes
            session["store"].close()
        finally:
            if "store" in session:
                session["store"].close(raise_error=False)
    session_id, scores = session["id"], result.scores
    rows_in = scores.height
    update_session(conn, session_id, stats={"scoring": {"examples": result.examples, "dropped": dict(result.dropped)}})
    files.write_json(files.session, {"session_id": session_id, "name": config.name})
    files.record_funnel("scoring", rows_in, result.examples, result.dropped)
    examples = pl.scan_parquet(files.example_parts())
    return {"session_id": session_id, "scores": scores, "dropped": dict(result.dropped),
            "example_count": result.examples, "examples_preview": examples.head(20).collect(),
            "examples_per_language": _counts(examples, "language"), "examples_per_task": _counts(examples, "task"),
            "parts_scored": result.parts_scored, "parts_from_cache": result.parts_from_cache,
            "example_parts_carried": result.parts_carried, "store_seconds": round(session["store"].seconds, 3)}


def _carriable_examples(conn: psycopg.Connection, previous: StageFiles, epoch: int) -> int:
    """How many leading parts of the previous run's examples this run can take as they are: each has its file and
    the ids of its stored contents, and those ids still name stored contents (_stored_ids_hold)."""
    if not previous.examples.is_dir():
        return 0  # a folder written before examples were kept by part
    count, ids = 0, 0
    while (previous.examples / f"part-{count:05d}.parquet").exists() \
            and (previous.examples / f"part-{count:05d}.ids.npy").exists():
        ids += len(np.load(previous.examples / f"part-{count:05d}.ids.npy", mmap_mode="r"))
        count += 1
    return count if count and _stored_ids_hold(conn, previous, previous.examples / CONTENTS_EPOCH, epoch, ids) else 0


def _counts(frame: pl.LazyFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame.group_by(column).len().sort(column).collect().iter_rows()}


class ExampleStore:
    """store_examples on a thread of its own, a frame at a time: PostgreSQL takes in one part's rows while this
    process builds the next. The connection is the writer's alone until `close` (which re-raises its error).
    `index`: read every stored digest once (many rows to store: a full run) instead of probing the digests of each
    frame (a retrain, whose few new examples are all that is not carried)."""

    def __init__(self, conn: psycopg.Connection, session_id: str, index: bool = True):
        self.conn, self.session_id, self.error, self.use_index = conn, session_id, None, index
        self.seconds = 0.0  # spent in store_examples (the writer's own time: PostgreSQL taking the rows in)
        self.queue: queue.Queue = queue.Queue()
        self.frames = threading.BoundedSemaphore(2)  # at most two parts' frames waiting: memory stays bounded
        self.thread = threading.Thread(target=self._run, name="rxt5-example-store", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        index = None  # what is stored already, read once (migration 7: a retrain's examples are mostly stored)
        while (item := self.queue.get()) is not None:
            if self.error is None:
                started = time.perf_counter()
                try:
                    kind, payload, ids_path = item
                    if kind == "link":
                        link_examples(self.conn, self.session_id, payload)
                    else:
                        index = index if index is not None or not self.use_index else ContentIndex(self.conn)
                        ids = store_examples(self.conn, self.session_id, payload, index)
                        if ids_path is not None:  # kept with the part: the next run links them (see link)
                            np.save(ids_path, np.asarray(ids, dtype=np.int64))
                except BaseException as exc:  # re-raised by put / close in the caller's thread
                    self.error = exc
                self.seconds += time.perf_counter() - started
            if item[0] == "store":
                self.frames.release()

    def put(self, frame: pl.DataFrame, ids_path: Path | None = None) -> None:
        """Store `frame`'s examples; the ids of their contents go to `ids_path` (numpy, int64, frame order)."""
        if self.error is not None:
            raise self.error
        self.frames.acquire()
        self.queue.put(("store", frame, ids_path))

    def link(self, ids) -> None:
        """Add contents stored before (their ids) to the session: never waits (ids are small; the caller goes on
        while PostgreSQL takes the rows in)."""
        if self.error is not None:
            raise self.error
        self.queue.put(("link", ids, None))

    def close(self, raise_error: bool = True) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if raise_error and self.error is not None:
            raise self.error


def session_to_extend(conn: psycopg.Connection, files: StageFiles, *, exclude_tasks: tuple[str, ...] = (),
                      drop_stats: tuple[str, ...] = (), dagster_run_id: str | None = None) -> str:
    """The session this stage adds to, locked until the caller commits: the run's own session while it is still
    `preparing`; once it has moved on (prepared, trained, failed) a new session derived from it — a session's state
    only moves forward, and a finished one is never reopened."""
    session_id = files.read_json(files.session)["session_id"]
    status = lock_session(conn, session_id)
    if status is None:
        raise LookupError(f"training session {session_id} of {files.session} is not in t5_training_sessions")
    if status != "preparing":
        session_id = derive_session(conn, session_id, exclude_tasks=exclude_tasks, drop_stats=drop_stats,
                                    dagster_run_id=dagster_run_id)
        lock_session(conn, session_id)
        files.write_json(files.session, {**files.read_json(files.session), "session_id": session_id})
    return session_id


def pairs_stage(conn: psycopg.Connection, files: StageFiles, config: PrepareConfig,
                dagster_run_id: str | None = None, previous: StageFiles | None = None) -> dict:
    """Pairs of passing Rust and Elixir chunks and their examples, added to the scoring's session. `previous`: an
    earlier run's folder, whose match candidates spare this run matching unchanged chunks again, and whose pair
    examples (with the ids they are stored under) are taken for the pairs whose inputs did not change
    (carried_pairs.py): only the other pairs' chunks are read whole, and only their examples built and stored."""
    from rxt5_assets.data.carried_pairs import code_key, pair_keys, source_ids

    session_id = session_to_extend(conn, files, exclude_tasks=PAIR_TASKS, drop_stats=("pairs",),
                                   dagster_run_id=dagster_run_id)
    epoch = contents_epoch(conn)
    passing = pl.read_parquet(files.scores).filter(pl.col("passed")).select("id", "quality_score", "split")
    parts = files.parts(files.chunks)
    # the matcher reads only the columns it needs, part by part; only the paired chunks are read whole
    chunks = pl.concat([pl.read_parquet(part, columns=list(PAIR_COLUMNS)).join(passing, on="id", maintain_order="left")
                        .with_columns(part=pl.lit(index, dtype=pl.Int32)) for index, part in enumerate(parts)])
    keys = None
    if not config.cross_language_learning:
        pairs = match_pairs(chunks.head(0), None)
        examples, ids = pl.DataFrame(schema=EXAMPLE_SCHEMA), []
    else:
        # the candidates of chunks unchanged since the previous run are its own (pairs.py: the same pairs)
        cache = previous.pair_candidates if previous is not None and config.analysis_cache else None
        pairs = match_pairs(chunks, None, PairConfig(threshold=config.pair_threshold), previous=cache,
                            save=files.pair_candidates)
        ledger = pl.read_parquet(files.chunks / LEDGER, columns=["id", "content_hash", "repo", "file_path"])
        keys = pair_keys(pairs, ledger, passing, code_key((read_manifest(files.chunks) or {}).get("key")))
        examples, ids = _pair_examples(conn, pairs, keys, chunks, passing, parts,
                                       previous if config.analysis_cache else None, epoch)
    # a second run of this stage on the same session replaces the pair examples instead of adding them again
    # (the session's membership rows only: the contents stay, other sessions may share them). Only a session whose
    # stats say pairs were stored has any: the first run skips a join over all its examples (200k chunks: 0.36 s)
    stored_pairs = conn.execute("select stats ? 'pairs' from t5_training_sessions where id = %s",
                                (session_id,)).fetchone()[0]
    if stored_pairs:
        conn.execute("delete from t5_session_examples l using t5_example_contents c where l.training_session_id = %s "
                     "and c.id = l.example_id and c.language = any(%s) and c.task = any(%s)",
                     (session_id, list(PAIR_LANGUAGES), list(PAIR_TASKS)))
    started = time.perf_counter()
    fresh = [position for position, id_ in enumerate(ids) if id_ is None]
    if fresh:  # the examples not taken from the previous run: their contents stored (or found) now
        for position, id_ in zip(fresh, store_examples(conn, session_id, examples[fresh], link=False)):
            ids[position] = id_
    link_examples(conn, session_id, ids)
    store_seconds = time.perf_counter() - started
    update_session(conn, session_id, stats={"pairs": {"pairs": pairs.height, "examples": examples.height}})
    files.write_parquet(pairs, files.pairs)
    files.write_parquet(examples, files.pair_examples)
    if keys is not None:
        files.write_json(files.pair_contents_epoch, {"deletions": epoch})
        by_pair = pairs.select(source_id=source_ids()).with_columns(pair_key=keys)
        files.write_parquet(examples.select("source_id").join(by_pair, on="source_id", how="left",
                                                              maintain_order="left")
                            .with_columns(id=pl.Series(ids, dtype=pl.Int64)), files.pair_examples_stored)
    return {"session_id": session_id, "pairs": pairs, "examples": examples, "chunks": chunks,
            "pair_examples_carried": examples.height - len(fresh), "store_seconds": round(store_seconds, 3)}


def _pair_examples(conn: psycopg.Connection, pairs: pl.DataFrame, keys: pl.Series, chunks: pl.DataFrame,
                   passing: pl.DataFrame, parts: list[Path], previous: StageFiles | None, epoch: int
                   ) -> tuple[pl.DataFrame, list[int | None]]:
    """pair_examples(pairs, chunks) — the previous run's rows for the pairs it had with the same key, the others
    built now from their chunks (read whole from the parts that hold them) — and the content id of each row (None:
    not stored yet)."""
    from rxt5_assets.data.carried_pairs import carried_examples, source_ids

    carried = None
    if previous is not None and previous.pair_examples_stored.exists():
        carried = carried_examples(pairs, keys, previous.pair_examples, previous.pair_examples_stored)
        if carried is not None and not _stored_ids_hold(conn, previous, previous.pair_contents_epoch, epoch,
                                                        carried[0].height):
            carried = None
    carried_rows, new_pairs = carried if carried is not None else (None, pairs)
    paired = pl.concat([new_pairs["rust_id"], new_pairs["elixir_id"]]).unique()
    holding = chunks.filter(pl.col("id").is_in(paired.implode()))["part"].unique().sort().to_list()
    needed = [pl.scan_parquet(parts[index]).select(*PAIR_EXAMPLE_COLUMNS).filter(
        pl.col("id").is_in(paired.implode())).collect() for index in holding]
    whole = pl.concat(needed).join(passing, on="id", maintain_order="left") if needed else None
    built = pair_examples(new_pairs, whole) if whole is not None else pl.DataFrame(schema=EXAMPLE_SCHEMA)
    if carried_rows is None:
        return built, [None] * built.height
    position = pairs.select(source_id=source_ids()).with_row_index("pair")
    built = built.with_row_index("row").join(position, on="source_id", how="left", maintain_order="left").with_columns(
        id=pl.lit(None, dtype=pl.Int64))
    columns = [*EXAMPLE_SCHEMA, "pair", "row", "id"]
    # each pair's rows come from one side; pairs in this run's order, rows within a pair in their own order
    merged = pl.concat([carried_rows.select(columns).cast({"row": pl.UInt32}), built.select(columns)]).sort(
        "pair", "row")
    return merged.select(list(EXAMPLE_SCHEMA)), merged["id"].to_list()


def _stored_ids_hold(conn: psycopg.Connection, previous: StageFiles, epoch_file: Path, epoch: int,
                     rows: int) -> bool:
    """Whether the `rows` content ids a previous run wrote beside its files still name stored contents, so that
    linking them is what storing those examples again would do (the same digest finds the same row): no statement
    has deleted from t5_example_contents since that run read the epoch (migration 9: a prune or a truncate bumps it;
    rxt5 never deletes contents), and its session committed (it exists and links at least `rows` examples)."""
    if not previous.session.exists() or not epoch_file.exists() \
            or previous.read_json(epoch_file).get("deletions") != epoch:
        return False
    session_id = previous.read_json(previous.session)["session_id"]
    return conn.execute("select count(*) from t5_session_examples where training_session_id = %s",
                        (session_id,)).fetchone()[0] >= rows


def dataset_stage(conn: psycopg.Connection, files: StageFiles, dataset_dir: Path, config: PrepareConfig,
                  dagster_run_id: str | None = None) -> dict:
    session_id = session_to_extend(conn, files, dagster_run_id=dagster_run_id)
    # what the mix, the leak check and the JSONL files read (not the breakdowns: a tenth of the examples' bytes)
    columns = [name for name in EXAMPLE_SCHEMA if name != "quality_breakdown"]
    examples = pl.concat([files.read_examples(columns), pl.read_parquet(files.pair_examples, columns=columns)])
    examples = retrieval_augmented(conn, examples, config)
    train, evaluation, mix = mix_training_split(examples, config.mix_config())
    found = {language: train.filter(pl.col("language") == language).height for language in config.languages}
    if any(count < config.min_examples for count in found.values()):
        message = insufficient_data_message(found, config.min_examples, files.read_json(files.funnel))
        update_session(conn, session_id, status="failed", error=message)
        conn.commit()
        raise InsufficientDataError(message)
    leaked = files_on_both_sides(train, evaluation)
    # the session's own folder holds its files for good; train.jsonl / eval.jsonl / manifest.json next to it are the
    # latest dataset, each replaced atomically (the manifest last: it names the session's own files, a consistent pair)
    own = dataset_dir / "sessions" / session_id
    train_path, eval_path = own / "train.jsonl", own / "eval.jsonl"
    write_jsonl(train, train_path)
    write_jsonl(evaluation, eval_path)
    manifest = {"session_id": session_id, "name": config.name, "train_file": str(train_path),
                "eval_file": str(eval_path), "train_examples": train.height, "eval_examples": evaluation.height,
                "mix": mix, "languages": list(config.languages), "files_on_both_sides": leaked}
    files.write_json(own / "manifest.json", manifest)
    update_session(conn, session_id, status="prepared", example_count=train.height + evaluation.height,
                   stats={"dataset": {k: v for k, v in manifest.items() if k != "session_id"}})
    conn.commit()  # the session is prepared before its dataset is published as the latest
    for path in (train_path, eval_path):
        latest = unique_temporary(dataset_dir / path.name)
        os.link(path, latest)
        latest.replace(dataset_dir / path.name)
    files.write_json(dataset_dir / "manifest.json", manifest)
    return {**manifest, "train": train, "eval": evaluation, "latest_train_file": str(dataset_dir / "train.jsonl"),
            "latest_eval_file": str(dataset_dir / "eval.jsonl")}


def retrieval_augmented(conn: psycopg.Connection, examples: pl.DataFrame, config: PrepareConfig) -> pl.DataFrame:
    """The examples with retrieved context on their implement/generate inputs when `config.retrieval_augmented`."""
    if not config.retrieval_augmented:
        return examples
    from rxt5_assets.retrieval.augment import augment_frame

    return augment_frame(conn, examples, k=config.retrieval_k, method=config.retrieval_method)


def run_data_stage(conn: psycopg.Connection, files: StageFiles, dataset_dir: Path, config: PrepareConfig,
                   on_stage=None, previous: StageFiles | None = None) -> dict:
    """Every stage in order, each committed on its own (as the assets do): the dataset manifest (with the
    preprocessing's counts of chunks analysed now and read from the cache). `on_stage(name, seconds)` hears of each
    finished stage. `previous`: an earlier run's folder, whose parts and per-part caches this run carries where they
    still hold (carry.py). For scripts, benchmarks and tests that want the dataset without Dagster."""
    reports = {}
    for stage in (preprocess_stage, scoring_stage, pairs_stage):
        started = time.perf_counter()
        report = stage(conn, files, config, previous=previous)
        # the counts only: frames a stage returns are not held while the next stages run
        reports[stage.__name__] = {k: v for k, v in report.items() if not isinstance(v, (pl.DataFrame, Counter))}
        del report
        conn.commit()
        if on_stage is not None:
            on_stage(stage.__name__, time.perf_counter() - started)
    started = time.perf_counter()
    manifest = dataset_stage(conn, files, dataset_dir, config)
    conn.commit()
    if on_stage is not None:
        on_stage("dataset_stage", time.perf_counter() - started)
    preprocess = reports["preprocess_stage"]
    return {**manifest, **{name: preprocess[name] for name in ("analysed", "cached", "carried", "fetched", "parts",
                                                               "parts_carried")},
            **{name: reports["scoring_stage"].get(name) for name in ("parts_scored", "parts_from_cache",
                                                                      "example_parts_carried")},
            "pair_examples_carried": reports["pairs_stage"]["pair_examples_carried"],
            # seconds PostgreSQL took to store the session's examples (scoring's, on its own thread, and the pairs')
            "store_seconds": {stage: reports[stage].get("store_seconds") for stage in ("scoring_stage", "pairs_stage")}}
