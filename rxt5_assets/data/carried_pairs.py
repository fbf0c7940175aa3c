"""Pair examples a retrain takes from the previous run instead of building and storing them again.

A pair's examples (pairs.pair_examples) are made of the pair (its two chunk ids, split and shared concepts), each
chunk's row (content hash, repo, path: with the preprocessing key — the analysers — that fixes its analysis: content,
doc, closing) and each chunk's quality score. A blake2b of all of that, and of this code, is the pair's key. A run
keeps, next to pair_examples.parquet and row for row, each example's pair (source_id), the pair's key and the
t5_example_contents id it was stored under (`pair_examples_stored.parquet`). The next run's pairs whose key it finds
take those rows and ids; only the others are built, read from their parts and stored. The frame is the one
pair_examples would build for all pairs, row for row (tested), so the dataset does not change.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl

from rxt5_assets.data.carry import source_hash

STORED_SCHEMA = {"source_id": pl.String, "pair_key": pl.String, "id": pl.Int64}
_FIELDS = ("rust_id", "elixir_id", "split", "concepts", "r_content_hash", "r_repo", "r_file_path", "r_quality_score",
           "e_content_hash", "e_repo", "e_file_path", "e_quality_score")


def code_key(preprocess_key: dict | None) -> str:
    """What every pair's examples depend on besides the pair's own fields: the preprocessing key and this code."""
    from rxt5_assets.data import examples, pairs

    return json.dumps({"preprocess": preprocess_key, "code": source_hash(
        Path(__file__), Path(pairs.__file__), Path(examples.__file__))}, sort_keys=True)


def pair_keys(pairs: pl.DataFrame, rows: pl.DataFrame, scores: pl.DataFrame, context: str) -> pl.Series:
    """One key per pair (hex): `rows` is the ledger's id, content_hash, repo, file_path; `scores` id, quality_score."""
    side = rows.select("id", "content_hash", "repo", "file_path").join(
        scores.select("id", "quality_score"), on="id", how="inner")
    frame = (pairs.select("rust_id", "elixir_id", "split", concepts=pl.col("shared_concepts").list.join("\x1f"))
             .join(side.rename(lambda name: f"r_{name}"), left_on="rust_id", right_on="r_id", how="left",
                   maintain_order="left")
             .join(side.rename(lambda name: f"e_{name}"), left_on="elixir_id", right_on="e_id", how="left",
                   maintain_order="left"))
    # every field as text, a null as "~" (concat_str of a null is null), fields apart by a control character
    text = frame.select(pl.concat_str([pl.col(name).cast(pl.String).fill_null("~") for name in _FIELDS],
                                      separator="\x1e"))[:, 0].to_list()
    salt = hashlib.blake2b(context.encode(), digest_size=16).digest()  # a keyed hash: the context in every key
    return pl.Series("pair_key", [hashlib.blake2b(value.encode(), digest_size=16, key=salt).hexdigest()
                                  for value in text], dtype=pl.String)


def source_ids() -> pl.Expr:
    """A pair's source_id, as pair_examples writes it."""
    return pl.concat_str(pl.col("rust_id").cast(pl.String), pl.lit(":"), pl.col("elixir_id").cast(pl.String))


def carried_examples(pairs: pl.DataFrame, keys: pl.Series, previous_examples: Path,
                     previous_stored: Path) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """(carried, new_pairs): the previous run's example rows of the pairs whose key it has, each with this run's pair
    position (`pair`), its position within the pair (`row`), its pair key and content id; and the pairs to build now.
    None when the previous run's files are missing or do not line up (then every pair is built)."""
    try:
        previous = pl.read_parquet(previous_examples)
        stored = pl.read_parquet(previous_stored)
    except (OSError, pl.exceptions.PolarsError):
        return None
    if stored.schema != pl.Schema(STORED_SCHEMA) or stored.height != previous.height \
            or not previous["source_id"].equals(stored["source_id"], check_names=False):
        return None
    current = pairs.select(source_id=source_ids()).with_columns(pair_key=keys).with_row_index("pair")
    rows = previous.with_row_index("row").with_columns(stored.select("pair_key", "id"))
    carried = rows.join(current, on=["source_id", "pair_key"], how="inner").sort("pair", "row")
    new_pairs = pairs.with_columns(pair_key=keys).filter(
        ~pl.concat_str(source_ids(), pl.lit("|"), pl.col("pair_key")).is_in(
            carried.select(pl.concat_str("source_id", pl.lit("|"), "pair_key")).to_series().unique().implode()))
    return carried, new_pairs.drop("pair_key")
