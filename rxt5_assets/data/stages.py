"""The data stage end to end, as plain functions over a connection and a folder.

The Dagster assets call these one by one; each reads what the previous one wrote under `work_dir`
and adds its own files, so any stage can be re-run on its own. `funnel.json` accumulates, stage by stage, how many rows
went in and why the others were dropped — it is what the "insufficient data" error quotes.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
import psycopg

from rxt5_assets.data.chunks import load_all_chunks, table_summary
from rxt5_assets.data.dataset import MixConfig, files_on_both_sides, mix_training_split, write_jsonl
from rxt5_assets.data.examples import EXAMPLE_SCHEMA, ExampleConfig, build_examples
from rxt5_assets.data.pairs import PairConfig, match_pairs, pair_examples
from rxt5_assets.data.quality import QualityWeights
from rxt5_assets.data.preprocess import preprocess_chunks
from rxt5_assets.db.sessions import create_session, store_examples, update_session
from rxt5_assets.errors import InsufficientDataError


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
    work_dir: Path

    def __post_init__(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)

    @property
    def chunks(self) -> Path:
        return self.work_dir / "preprocessed_chunks.parquet"

    @property
    def test_chunks(self) -> Path:
        return self.work_dir / "test_chunks.parquet"

    @property
    def scores(self) -> Path:
        return self.work_dir / "chunk_scores.parquet"

    @property
    def examples(self) -> Path:
        return self.work_dir / "examples.parquet"

    @property
    def pairs(self) -> Path:
        return self.work_dir / "pairs.parquet"

    @property
    def pair_examples(self) -> Path:
        return self.work_dir / "pair_examples.parquet"

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
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(value, indent=2, default=str))
        temporary.replace(path)

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


def preprocess_stage(conn: psycopg.Connection, files: StageFiles, config: PrepareConfig) -> dict:
    snapshot = table_summary(conn)
    frame = load_all_chunks(conn, max_id=snapshot["max_id"])
    started = time.perf_counter()
    result = preprocess_chunks(
        frame, config.languages, min_length=config.min_length,
        exclude_path_pattern=config.exclude_path_pattern, workers=config.workers,
    )
    seconds = time.perf_counter() - started
    megabytes = frame.select(pl.col("content").str.len_bytes().sum()).item() / 1e6 if frame.height else 0.0
    result.chunks.write_parquet(files.chunks)
    result.test_chunks.write_parquet(files.test_chunks)
    files.record_funnel("preprocess", result.rows_in, result.chunks.height, result.dropped)
    per_language = dict(result.chunks.group_by("language").len().iter_rows()) if result.chunks.height else {}
    return {"rows_in": result.rows_in, "accepted": result.chunks.height, "test_chunks": result.test_chunks.height,
            "dropped": dict(result.dropped), "per_language": per_language, "max_chunk_id": snapshot["max_id"],
            "megabytes": round(megabytes, 3), "seconds": round(seconds, 3), "workers": config.workers,
            "chunks": result.chunks}


def scoring_stage(conn: psycopg.Connection, files: StageFiles, config: PrepareConfig,
                  dagster_run_id: str | None = None) -> dict:
    chunks = pl.read_parquet(files.chunks)
    test_chunks = pl.read_parquet(files.test_chunks)
    result = build_examples(chunks, test_chunks, config.example_config())
    session_config = json.loads(json.dumps(asdict(config), default=list))  # tuples → lists, weights included
    session_id = create_session(conn, config.name, list(config.languages), session_config,
                                dagster_run_id=dagster_run_id,
                                max_code_chunk_id=int(chunks["id"].max()) if chunks.height else None)
    stored = store_examples(conn, session_id, result.examples)
    update_session(conn, session_id, stats={"scoring": {"examples": stored, "dropped": dict(result.dropped)}})
    result.scores.write_parquet(files.scores)
    result.examples.write_parquet(files.examples)
    files.write_json(files.session, {"session_id": session_id, "name": config.name})
    files.record_funnel("scoring", chunks.height, result.examples.height, result.dropped)
    return {"session_id": session_id, "examples": result.examples, "scores": result.scores,
            "dropped": dict(result.dropped)}


def pairs_stage(conn: psycopg.Connection, files: StageFiles, config: PrepareConfig) -> dict:
    session_id = files.read_json(files.session)["session_id"]
    chunks = pl.read_parquet(files.chunks).join(
        pl.read_parquet(files.scores).filter(pl.col("passed")).select("id", "quality_score", "split"), on="id"
    )
    if not config.cross_language_learning:
        pairs = match_pairs(chunks.head(0), {})
        examples = pl.DataFrame(schema=EXAMPLE_SCHEMA)
    else:
        splits = dict(zip(zip(chunks["repo"].to_list(), chunks["file_path"].to_list()), chunks["split"].to_list()))
        pairs = match_pairs(chunks, splits, PairConfig(threshold=config.pair_threshold))
        examples = pair_examples(pairs, chunks)
    store_examples(conn, session_id, examples)
    update_session(conn, session_id, stats={"pairs": {"pairs": pairs.height, "examples": examples.height}})
    pairs.write_parquet(files.pairs)
    examples.write_parquet(files.pair_examples)
    return {"session_id": session_id, "pairs": pairs, "examples": examples, "chunks": chunks}


def dataset_stage(conn: psycopg.Connection, files: StageFiles, dataset_dir: Path, config: PrepareConfig) -> dict:
    session_id = files.read_json(files.session)["session_id"]
    examples = pl.concat([pl.read_parquet(files.examples), pl.read_parquet(files.pair_examples)])
    examples = retrieval_augmented(conn, examples, config)
    train, evaluation, mix = mix_training_split(examples, config.mix_config())
    found = {language: train.filter(pl.col("language") == language).height for language in config.languages}
    if any(count < config.min_examples for count in found.values()):
        message = insufficient_data_message(found, config.min_examples, files.read_json(files.funnel))
        update_session(conn, session_id, status="failed", error=message)
        conn.commit()
        raise InsufficientDataError(message)
    leaked = files_on_both_sides(train, evaluation)
    dataset_dir.mkdir(parents=True, exist_ok=True)
    train_path, eval_path = dataset_dir / "train.jsonl", dataset_dir / "eval.jsonl"
    write_jsonl(train, train_path)
    write_jsonl(evaluation, eval_path)
    manifest = {"session_id": session_id, "name": config.name, "train_file": str(train_path),
                "eval_file": str(eval_path), "train_examples": train.height, "eval_examples": evaluation.height,
                "mix": mix, "languages": list(config.languages), "files_on_both_sides": leaked}
    files.write_json(dataset_dir / "manifest.json", manifest)
    update_session(conn, session_id, status="prepared", example_count=train.height + evaluation.height,
                   stats={"dataset": {k: v for k, v in manifest.items() if k != "session_id"}})
    return {**manifest, "train": train, "eval": evaluation}


def retrieval_augmented(conn: psycopg.Connection, examples: pl.DataFrame, config: PrepareConfig) -> pl.DataFrame:
    """The examples with retrieved context on their implement/generate inputs when `config.retrieval_augmented`."""
    if not config.retrieval_augmented:
        return examples
    from rxt5_assets.retrieval.augment import augment_frame

    return augment_frame(conn, examples, k=config.retrieval_k, method=config.retrieval_method)


def run_data_stage(conn: psycopg.Connection, files: StageFiles, dataset_dir: Path, config: PrepareConfig,
                   on_stage=None) -> dict:
    """Every stage in order, each committed on its own (as the assets do): the dataset manifest. `on_stage(name,
    seconds)` hears of each finished stage. For scripts, benchmarks and tests that want the dataset without Dagster."""
    for stage in (preprocess_stage, scoring_stage, pairs_stage):
        started = time.perf_counter()
        stage(conn, files, config)
        conn.commit()
        if on_stage is not None:
            on_stage(stage.__name__, time.perf_counter() - started)
    manifest = dataset_stage(conn, files, dataset_dir, config)
    conn.commit()
    return manifest
