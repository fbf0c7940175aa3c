"""Data stage: code_chunks → preprocessed_chunks → scored_examples → cross_language_pairs → training_dataset."""


import json
import os
from collections import Counter
from pathlib import Path

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetExecutionContext, MaterializeResult, MetadataValue, asset, asset_check

from rxt5_assets.data.chunks import ChunkSelection, selection_counts, table_summary
from rxt5_assets.data.dataset import files_on_both_sides
from rxt5_assets.data.new_chunks import MAX_CHUNK_ID_TAG
from rxt5_assets.data.parallel import default_workers
from rxt5_assets.data.quality import DEFAULT_INDICATOR_WEIGHTS, QualityWeights
from rxt5_assets.data.stages import (
    PrepareConfig, StageFiles, dataset_stage, pairs_stage, preprocess_stage, scoring_stage,
)
from rxt5_assets.defs.metadata import column_schema, counts_md, histogram_md, table_md
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, WorkspaceResource


def chunk_selection(data_prep: DataPreparationResource) -> ChunkSelection:
    return ChunkSelection(
        languages=tuple(data_prep.languages),
        min_length=data_prep.min_length,
        exclude_path_pattern=data_prep.exclude_path_pattern,
    )


@asset(
    group_name="data",
    kinds={"postgres"},
    description=(
        "Code chunks in PostgreSQL (filled by an indexer or `rxt5 ingest`): the seed's selection per language — "
        "LENGTH(content) >= 50 and no test paths. Migrates the schema first."
    ),
)
def code_chunks(
    context: AssetExecutionContext, database: DatabaseResource, data_prep: DataPreparationResource
) -> MaterializeResult:
    db = database.database()
    applied = db.migrate()
    if applied:
        context.log.info(f"applied schema migrations {applied}")
    with db.connect() as conn:
        summary = table_summary(conn)
        counts = selection_counts(conn, chunk_selection(data_prep))
    per_language = counts.group_by("language").agg(pl.col("chunks").sum()).sort("language")
    selected = int(counts["chunks"].sum()) if counts.height else 0
    context.log.info(f"{selected} of {summary['total_rows']} chunks match the seed's selection")
    return MaterializeResult(
        metadata={
            "dagster/row_count": selected,
            "table_rows": summary["total_rows"],
            "max_chunk_id": summary["max_id"],
            # preprocessed_chunks reads every row: the seed's selection above, plus test-path and short rows it
            # counts as dropped or keeps aside for the `tests` task — so its rows_in is table_rows, not this count
            "counts_note": MetadataValue.md(
                f"{selected} rows match the seed's selection; preprocessed_chunks reads all {summary['total_rows']} "
                "rows, keeps test-path chunks aside for test examples and counts every other dropped row by reason"),
            **{f"chunks_{row['language']}": row["chunks"] for row in per_language.iter_rows(named=True)},
            "chunks_by_language_and_repo": MetadataValue.md(
                table_md(counts.select("language", "repo", "chunks"), rows=100).value
                if counts.height else "_no chunks match the selection: run `rxt5 ingest PATH` or `rxt5 ingest --demo`_"
            ),
        }
    )


def prepare_config(data_prep: DataPreparationResource) -> PrepareConfig:
    return PrepareConfig(
        name=data_prep.name, languages=tuple(data_prep.languages), max_examples=data_prep.max_examples,
        quality_threshold=data_prep.quality_threshold, cross_language_learning=data_prep.cross_language_learning,
        min_length=data_prep.min_length, exclude_path_pattern=data_prep.exclude_path_pattern,
        rust_weight=data_prep.rust_weight, elixir_weight=data_prep.elixir_weight,
        cross_language_weight=data_prep.cross_language_weight, pair_threshold=data_prep.pair_threshold,
        eval_fraction=data_prep.eval_fraction, min_examples=data_prep.min_examples, seed=data_prep.seed,
        workers=data_prep.workers or default_workers(), batch_size=data_prep.batch_size,
        analysis_cache=data_prep.analysis_cache,
        quality_weights=QualityWeights(
            indicator_weights={language: {**weights, **data_prep.indicator_weights.get(language, {})}
                               for language, weights in DEFAULT_INDICATOR_WEIGHTS.items()},
            baseline=data_prep.quality_baseline, saturation=data_prep.quality_saturation,
        ),
    )


def _latest_pointer(workspace: WorkspaceResource, asset_name: str) -> Path:
    return workspace.folder("data", "latest") / f"{asset_name}.json"


def latest_run_folder(workspace: WorkspaceResource, asset_name: str) -> Path:
    """The run folder of the latest successful materialization of a data asset."""
    pointer = _latest_pointer(workspace, asset_name)
    if not pointer.exists():
        raise FileNotFoundError(f"{asset_name} has not been materialized yet (no {pointer}): materialize it first")
    return workspace.root / json.loads(pointer.read_text())["folder"]


def previous_run(workspace: WorkspaceResource, asset_name: str) -> StageFiles | None:
    """The folder of the latest successful materialization of `asset_name`, which a new one carries (carry.py)."""
    try:
        return StageFiles(latest_run_folder(workspace, asset_name))
    except FileNotFoundError:
        return None


def stage_files(workspace: WorkspaceResource, run_id: str | None = None, upstream: str | None = None) -> StageFiles:
    """The folder of one Dagster run: `data/runs/<run id>/`, so concurrent runs never share a working file.

    A step whose upstream asset was not materialized in this run adopts the latest materialization's folder: its
    files are hard-linked in (never copied, never written: every output is replaced by an atomic rename), so one
    lineage of files feeds each step. Without a run id: the folder the latest training_dataset read."""
    if run_id is None:
        return StageFiles(latest_run_folder(workspace, "training_dataset"))
    files = StageFiles(workspace.folder("data", "runs", run_id))
    if upstream is not None and not (files.work_dir / f".done-{upstream}").exists():
        source = latest_run_folder(workspace, upstream)
        for entry in source.iterdir():
            target = files.work_dir / entry.name
            if entry.name.startswith(".") and not entry.name.startswith(".done-") or target.exists():
                continue
            if entry.is_dir():
                target.mkdir()
                for part in entry.iterdir():
                    os.link(part, target / part.name)
            else:
                os.link(entry, target)
    return files


def publish(files: StageFiles, workspace: WorkspaceResource, asset_name: str) -> None:
    """This run's folder becomes the latest materialization of `asset_name` (one atomic pointer replace)."""
    (files.work_dir / f".done-{asset_name}").write_text("")
    files.write_json(_latest_pointer(workspace, asset_name),
                     {"folder": str(files.work_dir.relative_to(workspace.root))})


def _per_language(frame: pl.DataFrame, column: str = "language") -> dict[str, int]:
    return {str(k): int(v) for k, v in frame.group_by(column).len().sort(column).iter_rows()} if frame.height else {}


@asset(
    group_name="data",
    kinds={"python", "polars"},
    deps=[code_chunks],
    description=(
        "Language-specific preprocessing: every chunk validated, parsed once with tree-sitter, its patterns, docs, "
        "signature, tests and cross-language concepts recognised. Dropped rows are counted by reason."
    ),
)
def preprocessed_chunks(
    context: AssetExecutionContext, database: DatabaseResource, data_prep: DataPreparationResource,
    workspace: WorkspaceResource,
) -> MaterializeResult:
    files = stage_files(workspace, context.run.run_id)
    with database.database().connect() as conn:
        tagged = context.run.tags.get(MAX_CHUNK_ID_TAG)  # a sensor-launched retrain: the rows it counted
        report = preprocess_stage(conn, files, prepare_config(data_prep),
                                  max_chunk_id=int(tagged) if tagged else None,
                                  previous=previous_run(workspace, "preprocessed_chunks"))
    publish(files, workspace, "preprocessed_chunks")
    chunks: pl.DataFrame = report["preview"]
    context.log.info(f"{report['accepted']} of {report['rows_in']} chunks accepted ({report['analysed']} analysed "
                     f"now, {report['cached']} from the caches, {report['carried']} of them carried from the previous "
                     f"run's parts; {report['fetched']} rows read with their content); dropped {report['dropped']}")
    patterns = report["patterns"]
    return MaterializeResult(
        metadata={
            "dagster/row_count": report["accepted"],
            "dagster/column_schema": column_schema(report["schema"]),
            "analysed_now": report["analysed"],
            "analyses_from_cache": report["cached"],  # chunk_analyses or the previous run's parts
            "chunks_carried": report["carried"],  # rows of the previous run's parts, not read from the database
            "rows_fetched": report["fetched"],  # rows read with their content (new, changed or newly first)
            "parts_carried": report["parts_carried"],  # hard-linked: none of their rows changed
            "parts": report["parts"],
            "batch_size": report["batch_size"],
            "rows_in": report["rows_in"],
            "test_chunks_kept_aside": report["test_chunks"],
            "max_chunk_id": report["max_chunk_id"],
            "input_megabytes": report["megabytes"],  # every code_chunks row read, dropped ones included
            "analysis_mb_per_second": round(report["megabytes"] / report["seconds"], 2) if report["seconds"] else 0.0,
            "workers": report["workers"],
            **{f"chunks_{k}": v for k, v in report["per_language"].items()},
            "drop_reasons": counts_md(report["dropped"]),
            "top_patterns": counts_md(dict(patterns.most_common(25)), key="pattern"),
            "preview": table_md(chunks.select("id", "language", "kind", "name", "patterns", "concepts", "file_path")),
            "path": MetadataValue.path(str(files.chunks)),
            "run_folder": MetadataValue.path(str(files.work_dir)),
        }
    )


@asset(
    group_name="data",
    kinds={"python", "polars", "postgres"},
    deps=[preprocessed_chunks],
    description=(
        "Quality scores (language indicators × penalties, breakdown kept) and T5 examples from chunks at or above "
        "the threshold. Records a t5_training_sessions row and its examples (t5_training_examples: each content "
        "stored once in t5_example_contents, shared by sessions)."
    ),
)
def scored_examples(
    context: AssetExecutionContext, database: DatabaseResource, data_prep: DataPreparationResource,
    workspace: WorkspaceResource,
) -> MaterializeResult:
    files = stage_files(workspace, context.run.run_id, upstream="preprocessed_chunks")
    with database.database().connect() as conn:
        report = scoring_stage(conn, files, prepare_config(data_prep), dagster_run_id=context.run.run_id,
                               previous=previous_run(workspace, "scored_examples"))
    publish(files, workspace, "scored_examples")
    examples: pl.DataFrame = report["examples_preview"]
    scores: pl.DataFrame = report["scores"]
    pass_rate = float(scores["passed"].mean()) if scores.height else 0.0
    context.log.info(f"session {report['session_id']}: {report['example_count']} examples, pass rate {pass_rate:.1%}"
                     f" ({report['parts_scored']} parts scored now, {report['parts_from_cache']} from the cache)")
    return MaterializeResult(
        metadata={
            "session_id": report["session_id"],
            "dagster/row_count": report["example_count"],
            "dagster/column_schema": column_schema(examples),
            "pass_rate": round(pass_rate, 4),
            "mean_quality_score": round(float(scores["quality_score"].mean()), 4) if scores.height else 0.0,
            "parts_scored": report["parts_scored"],  # scores, candidates and dedup keys computed now
            "parts_from_cache": report["parts_from_cache"],  # … taken from the previous run (same part, same key)
            **{f"examples_{k}": v for k, v in report["examples_per_language"].items()},
            "examples_by_task": counts_md(report["examples_per_task"], key="task"),
            "score_histogram": histogram_md(scores["quality_score"].to_list(), "chunk quality scores")
            if scores.height else MetadataValue.md("_no chunks_"),
            "drop_reasons": counts_md(report["dropped"]),
            "preview": table_md(examples.select("language", "task", "quality_score", "input", "target")),
        }
    )


@asset(
    group_name="data",
    kinds={"python", "polars"},
    deps=[scored_examples],
    description=(
        "Cross-language learning: Rust↔Elixir pairs matched on shared concepts and names (score ≥ pair_threshold), "
        "and the transfer / concept-conditioned examples built from them."
    ),
)
def cross_language_pairs(
    context: AssetExecutionContext, database: DatabaseResource, data_prep: DataPreparationResource,
    workspace: WorkspaceResource,
) -> MaterializeResult:
    files = stage_files(workspace, context.run.run_id, upstream="scored_examples")
    with database.database().connect() as conn:
        report = pairs_stage(conn, files, prepare_config(data_prep), dagster_run_id=context.run.run_id,
                             previous=previous_run(workspace, "cross_language_pairs"))
    publish(files, workspace, "cross_language_pairs")
    pairs: pl.DataFrame = report["pairs"]
    names = dict(report["chunks"].select("id", "name").iter_rows())
    preview = pairs.with_columns(
        pl.col("rust_id").replace_strict(names, default="").alias("rust_item"),
        pl.col("elixir_id").replace_strict(names, default="").alias("elixir_item"),
    ).select("rust_item", "elixir_item", "match_score", "shared_concepts", "shared_identifiers") if pairs.height else pairs
    concepts = Counter(c for row in pairs["shared_concepts"].to_list() for c in row) if pairs.height else Counter()
    context.log.info(f"{pairs.height} pairs, {report['examples'].height} transfer examples")
    return MaterializeResult(
        metadata={
            "dagster/row_count": pairs.height,
            "pairs": pairs.height,
            "transfer_examples": report["examples"].height,
            "mean_match_score": round(float(pairs["match_score"].mean()), 4) if pairs.height else 0.0,
            "shared_concepts": counts_md(dict(concepts), key="concept", value="pairs"),
            "preview": table_md(preview.sort("match_score", descending=True) if pairs.height else preview),
        }
    )


@asset(
    group_name="data",
    kinds={"python", "polars"},
    deps=[cross_language_pairs],
    description=(
        "The weighted, deduplicated, leak-free training set: train.jsonl / eval.jsonl (split by file) — the files "
        "`rxt5 train` reads. Fails with the funnel of filters when a language has too few examples."
    ),
)
def training_dataset(
    context: AssetExecutionContext, database: DatabaseResource, data_prep: DataPreparationResource,
    workspace: WorkspaceResource,
) -> MaterializeResult:
    files = stage_files(workspace, context.run.run_id, upstream="cross_language_pairs")
    dataset_dir = workspace.folder("datasets", data_prep.name)
    with database.database().connect() as conn:
        report = dataset_stage(conn, files, dataset_dir, prepare_config(data_prep), dagster_run_id=context.run.run_id)
    publish(files, workspace, "training_dataset")
    train: pl.DataFrame = report["train"]
    context.log.info(f"train {report['train_examples']} / eval {report['eval_examples']} → {dataset_dir}")
    mix = report["mix"]
    return MaterializeResult(
        metadata={
            "session_id": report["session_id"],
            "train_examples": report["train_examples"],
            "eval_examples": report["eval_examples"],
            "train_file": MetadataValue.path(report["train_file"]),
            "eval_file": MetadataValue.path(report["eval_file"]),
            "mix_share": MetadataValue.json(mix["share"]),
            "mix": MetadataValue.json(mix),
            **{f"train_{k}": v for k, v in _per_language(train).items()},
            "preview": table_md(train.select("language", "task", "input", "target")),
        }
    )


@asset_check(asset=scored_examples, blocking=True, description="every quality score lies in [0, 1]")
def quality_scores_in_unit_interval(context: AssetCheckExecutionContext, workspace: WorkspaceResource
                                    ) -> AssetCheckResult:
    scores = pl.read_parquet(stage_files(workspace, context.run.run_id, upstream="scored_examples").scores)
    outside = scores.filter((pl.col("quality_score") < 0) | (pl.col("quality_score") > 1)).height
    return AssetCheckResult(passed=outside == 0, metadata={"scores": scores.height, "outside_unit_interval": outside})


@asset_check(asset=cross_language_pairs, blocking=True,
             description="cross-language learning on ⇒ at least one Rust↔Elixir pair")
def pairs_found_when_cross_language_learning(
    context: AssetCheckExecutionContext, workspace: WorkspaceResource, data_prep: DataPreparationResource
) -> AssetCheckResult:
    pairs = pl.read_parquet(stage_files(workspace, context.run.run_id, upstream="cross_language_pairs").pairs).height
    passed = pairs > 0 or not data_prep.cross_language_learning
    return AssetCheckResult(passed=passed, metadata={"pairs": pairs,
                                                     "cross_language_learning": data_prep.cross_language_learning})


def dataset_manifest(workspace: WorkspaceResource, data_prep: DataPreparationResource) -> dict:
    """What training_dataset wrote: session id, train/eval files, mix."""
    path = workspace.folder("datasets", data_prep.name) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: materialize training_dataset first")
    return json.loads(path.read_text())


@asset_check(asset=training_dataset, blocking=True, description="no file contributes to both train and eval")
def no_file_in_both_splits(workspace: WorkspaceResource, data_prep: DataPreparationResource) -> AssetCheckResult:
    manifest = dataset_manifest(workspace, data_prep)
    train = pl.read_ndjson(manifest["train_file"])
    evaluation = pl.read_ndjson(manifest["eval_file"])
    leaked = files_on_both_sides(train, evaluation)
    return AssetCheckResult(passed=not leaked, metadata={"files_on_both_sides": len(leaked),
                                                         "examples": MetadataValue.json(leaked[:20])})


@asset_check(asset=training_dataset, blocking=True, description="each requested language is in train and eval")
def each_requested_language_present(workspace: WorkspaceResource, data_prep: DataPreparationResource) -> AssetCheckResult:
    manifest = dataset_manifest(workspace, data_prep)
    present = {}
    for split in ("train", "eval"):
        languages = set(pl.read_ndjson(manifest[f"{split}_file"])["language"].unique().to_list())
        present[split] = sorted(languages)
    missing = {split: [l for l in data_prep.languages if l not in langs] for split, langs in present.items()}
    return AssetCheckResult(passed=not any(missing.values()), metadata={"missing": MetadataValue.json(missing),
                                                                        "present": MetadataValue.json(present)})


DATA_ASSETS = [code_chunks, preprocessed_chunks, scored_examples, cross_language_pairs, training_dataset]
DATA_CHECKS = [quality_scores_in_unit_interval, pairs_found_when_cross_language_learning, no_file_in_both_splits,
               each_requested_language_present]
