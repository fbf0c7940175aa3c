"""The data stage's column-wise passes and caches: what they compute equals the per-row definitions."""

from __future__ import annotations

from collections import Counter, defaultdict

import polars as pl
import pytest

from rxt5_assets.data.examples import assign_splits
from rxt5_assets.data.pairs import _STOP_WORDS, EQUIVALENT_KINDS, PAIR_SCHEMA, PairConfig, match_pairs
from rxt5_assets.data.preprocess import preprocess_chunks
from rxt5_assets_tests.data.test_data_stage import demo_chunks


def reference_pairs(chunks: pl.DataFrame, splits: dict, config: PairConfig) -> pl.DataFrame:
    """The matcher's definition, pair by pair: an inverted index over Elixir words (a word in more than
    max_word_postings Elixir chunks finds no candidates), Jaccard of concepts and words, kinds, best first."""
    rust = list(chunks.filter(pl.col("language") == "rust").iter_rows(named=True))
    elixir = list(chunks.filter(pl.col("language") == "elixir").iter_rows(named=True))
    index = defaultdict(list)
    for position, row in enumerate(elixir):
        for word in set(row["identifiers"]) - _STOP_WORDS:
            index[word].append(position)
    index = {word: postings for word, postings in index.items() if len(postings) <= config.max_word_postings}

    def jaccard(a: set, b: set) -> float:
        return len(a & b) / len(a | b) if a or b else 0.0

    scored = []
    for row in rust:
        words, concepts = set(row["identifiers"]) - _STOP_WORDS, set(row["concepts"])
        for position in {p for word in words for p in index.get(word, ())}:
            other = elixir[position]
            score = (config.concept_weight * jaccard(concepts, set(other["concepts"]))
                     + config.name_weight * jaccard(words, set(other["identifiers"]) - _STOP_WORDS)
                     + config.kind_weight * ((row["kind"], other["kind"]) in EQUIVALENT_KINDS))
            if score >= config.threshold:
                scored.append((-score, row["id"], other["id"], row, other))
    uses, pairs = Counter(), []
    for negative, _, _, row, other in sorted(scored, key=lambda item: item[:3]):
        if uses[row["id"]] >= config.max_pairs_per_chunk or uses[other["id"]] >= config.max_pairs_per_chunk:
            continue
        split = splits.get((row["repo"], row["file_path"]), "train")
        if split != splits.get((other["repo"], other["file_path"]), "train"):
            continue
        uses[row["id"]] += 1
        uses[other["id"]] += 1
        words = (set(row["identifiers"]) - _STOP_WORDS) & (set(other["identifiers"]) - _STOP_WORDS)
        pairs.append((row["id"], other["id"], round(-negative, 4), sorted(set(row["concepts"]) & set(other["concepts"])),
                      sorted(words), split))
    return pl.DataFrame(pairs, schema=PAIR_SCHEMA, orient="row")


@pytest.fixture(scope="module")
def demo_analysed() -> pl.DataFrame:
    return preprocess_chunks(demo_chunks()).chunks


@pytest.mark.parametrize("config", [PairConfig(), PairConfig(threshold=0.2, max_word_postings=3),
                                    PairConfig(threshold=0.3, max_pairs_per_chunk=1, max_word_postings=1)],
                         ids=["defaults", "capped-words", "one-pair-each"])
def test_the_column_wise_matcher_equals_the_pairwise_definition(demo_analysed: pl.DataFrame, config: PairConfig):
    splits = assign_splits(demo_analysed.select("language", "repo", "file_path"), 0.2, seed=3)
    expected = reference_pairs(demo_analysed, splits, config)
    assert expected.height > 10  # enough pairs that order, caps and splits matter
    assert match_pairs(demo_analysed, splits, config).equals(expected)
    # the split read from the chunks' own column gives the same pairs as the mapping
    with_split = demo_analysed.with_columns(split=pl.struct("repo", "file_path").map_elements(
        lambda key: splits.get((key["repo"], key["file_path"])), return_dtype=pl.String))
    assert match_pairs(with_split, None, config).equals(expected)
