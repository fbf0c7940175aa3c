"""The training dataset: weighted mix, cap, leak checks, and the train.jsonl / eval.jsonl files the trainer reads.

Mix: each group (rust, elixir, cross-language pairs) gets `weight × available` examples, scaled down together so the
training split fits `max_examples`. A group asked for more than it has is repeated (whole passes, then its best examples
by quality); one asked for less keeps its best examples. The eval split is never weighted or repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

JSONL_FIELDS = ("input", "target", "language", "task", "quality_score", "source_id", "repo", "file_path")


@dataclass(frozen=True)
class MixConfig:
    rust_weight: float = 1.0
    elixir_weight: float = 1.0
    cross_language_weight: float = 1.0
    cross_language_learning: bool = True
    max_examples: int = 20000
    seed: int = 42


def _weight(group: str, config: MixConfig) -> float:
    return {"rust": config.rust_weight, "elixir": config.elixir_weight, "cross": config.cross_language_weight}.get(group, 1.0)


def _take(group: pl.DataFrame, count: int, seed: int) -> pl.DataFrame:
    """`count` rows of `group`: whole copies first, then the best by quality (ties broken by a seeded shuffle)."""
    if count <= 0 or group.height == 0:
        return group.head(0)
    ranked = group.sample(fraction=1.0, shuffle=True, seed=seed).sort("quality_score", descending=True, maintain_order=True)
    copies, rest = divmod(count, group.height)
    return pl.concat([ranked] * copies + [ranked.head(rest)])


def mix_training_split(examples: pl.DataFrame, config: MixConfig) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(train, eval, report) from all examples of a session."""
    # a pair language such as rust->elixir belongs to the "cross" group
    frame = examples.with_columns(
        pl.when(pl.col("language").str.contains("->", literal=True)).then(pl.lit("cross"))
        .otherwise(pl.col("language")).alias("group"))
    if not config.cross_language_learning:
        frame = frame.filter(pl.col("group") != "cross")
    train, evaluation = frame.filter(pl.col("split") == "train"), frame.filter(pl.col("split") == "eval")
    available = {g: int(n) for g, n in train.group_by("group").len().iter_rows()}
    desired = {g: _weight(g, config) * n for g, n in available.items()}
    scale = min(1.0, config.max_examples / sum(desired.values())) if desired and sum(desired.values()) else 0.0
    # the shuffles and sorts move row numbers, not the examples' text; the rows are gathered once at the end
    narrow = train.select("group", "quality_score").with_row_index("_row")
    parts, produced = [], {}
    for index, group in enumerate(sorted(available)):
        count = int(round(desired[group] * scale))
        parts.append(_take(narrow.filter(pl.col("group") == group), count, config.seed + index))
        produced[group] = count
    order = pl.concat(parts).sample(fraction=1.0, shuffle=True, seed=config.seed) if parts else narrow.head(0)
    mixed = train[order["_row"].to_numpy()] if order.height else train.head(0)
    total = sum(produced.values()) or 1
    report = {
        "available_train": available,
        "produced_train": produced,
        "share": {g: round(n / total, 4) for g, n in produced.items()},
        "eval": {g: int(n) for g, n in evaluation.group_by("group").len().iter_rows()},
        "weights": {"rust": config.rust_weight, "elixir": config.elixir_weight, "cross": config.cross_language_weight},
    }
    return mixed.drop("group"), evaluation.drop("group"), report


def files_on_both_sides(train: pl.DataFrame, evaluation: pl.DataFrame) -> list[str]:
    """(repo/file_path) present in both splits — must be empty."""
    def keys(frame: pl.DataFrame) -> set[str]:
        return {f"{r}/{p}" for r, p in frame.select("repo", "file_path").unique().iter_rows()}
    return sorted(keys(train) & keys(evaluation))


def write_jsonl(frame: pl.DataFrame, path: Path) -> int:
    """One JSON object a line with the trainer's fields; returns the line count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    frame.select(JSONL_FIELDS).write_ndjson(temporary)  # polars' writer: a tenth of json.dumps row by row
    temporary.replace(path)  # readers never see a half-written file
    return frame.height
