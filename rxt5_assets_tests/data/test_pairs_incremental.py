"""The pair matcher started from a previous run's candidates (`previous=`) gives what it gives from scratch: the same
frame, the same parquet bytes, whatever changed in between; a cache it cannot use is ignored, never an error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rxt5_assets.data import pairs
from rxt5_assets.data.examples import assign_splits
from rxt5_assets.data.pairs import PairConfig, match_pairs
from rxt5_assets.data.preprocess import preprocess_chunks
from rxt5_assets_tests.data.test_data_stage import demo_chunks

CAPPED = PairConfig(threshold=0.2, max_word_postings=3)
SCHEMA = {"id": pl.Int64, "language": pl.String, "repo": pl.String, "file_path": pl.String, "kind": pl.String,
          "identifiers": pl.List(pl.String), "concepts": pl.List(pl.String), "split": pl.String}
RUST_KINDS, ELIXIR_KINDS = ["function", "struct", "trait", "impl", "macro"], ["def", "defp", "module", "defmacro"]


def synthetic(count: int, seed: int, first_id: int = 1) -> pl.DataFrame:
    """Chunks of both languages over a small Zipf-like vocabulary: with max_word_postings 3 some words are capped,
    many pairs share a few words and concepts, and a tenth of the files are on the eval side."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{index}" for index in range(60)] + ["new", "get", "value"]  # and some stop words
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    weights /= weights.sum()
    concepts = [f"c{index}" for index in range(12)]
    rows = []
    for offset in range(count):
        language = "rust" if rng.random() < 0.55 else "elixir"
        file = int(rng.integers(0, 40))
        kinds = RUST_KINDS if language == "rust" else ELIXIR_KINDS
        rows.append({
            "id": first_id + offset, "language": language, "repo": f"repo{file % 5}",
            "file_path": f"{language}/f{file}", "kind": str(rng.choice(kinds)),
            "identifiers": list(rng.choice(vocabulary, size=int(rng.integers(1, 6)), p=weights)),
            "concepts": list(rng.choice(concepts, size=int(rng.integers(0, 4)))),
            "split": "eval" if file % 10 == 0 else "train"})
    return pl.DataFrame(rows, schema=SCHEMA)


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


@pytest.fixture
def carried(monkeypatch) -> list:
    """What each match_pairs call read from its cache (None: nothing usable)."""
    seen, candidates = [], pairs._candidates

    def spy(rust, elixir, config, cached=None):
        seen.append(cached)
        return candidates(rust, elixir, config, cached)

    monkeypatch.setattr(pairs, "_candidates", spy)
    return seen


def assert_incremental(old: pl.DataFrame, new: pl.DataFrame, tmp_path: Path, carried: list,
                       config: PairConfig = CAPPED, splits: dict | None = None, used: bool = True) -> pl.DataFrame:
    """match_pairs(new) from old's cache equals it from scratch (frame and bytes); `used`: the cache was read."""
    cache = tmp_path / "pairs-cache.parquet"
    match_pairs(old, splits, config, save=cache)
    expected = match_pairs(new, splits, config)
    carried.clear()
    incremental = match_pairs(new, splits, config, previous=cache)
    assert (carried[-1] is not None) == used
    assert_frame_equal(incremental, expected)
    assert parquet_bytes(incremental) == parquet_bytes(expected)
    return expected


@pytest.fixture(scope="module")
def old() -> pl.DataFrame:
    chunks = synthetic(400, seed=1)
    assert match_pairs(chunks, None, CAPPED).height > 40  # enough pairs that caps and order matter
    return chunks


def test_nothing_changed_carries_every_candidate(old, tmp_path, carried):
    assert_incremental(old, old, tmp_path, carried)
    cached = carried[-1]
    assert cached.rust_clean.all() and cached.elixir_clean.all() and len(cached.r) > 40


def test_chunks_added_in_both_languages(old, tmp_path, carried):
    added = synthetic(60, seed=2, first_id=10_000)
    assert set(added["language"]) == {"rust", "elixir"}
    assert_incremental(old, pl.concat([old, added]), tmp_path, carried)
    # and in between the old ones, in id order: every old chunk's position shifts
    doubled = old.with_columns(pl.col("id") * 2)
    between = added.with_columns(id=2 * pl.int_range(added.height, dtype=pl.Int64) + 1)
    assert_incremental(doubled, pl.concat([doubled, between]).sort("id"), tmp_path, carried)


def test_chunks_deleted(old, tmp_path, carried):
    for language in ("rust", "elixir"):
        dropped = old.filter((pl.col("language") != language) | (pl.col("id") % 7 != 0))
        assert_incremental(old, dropped, tmp_path, carried)
    assert_incremental(old, old.filter(pl.col("id") % 3 != 0), tmp_path, carried)


@pytest.mark.parametrize("column", ["identifiers", "concepts", "kind", "split"])
def test_chunks_changed(old, tmp_path, carried, column):
    changed = {"identifiers": pl.col("identifiers").list.reverse().list.slice(1).list.concat(pl.lit(["w1", "w40"])),
               "concepts": pl.col("concepts").list.concat(pl.lit(["c3"])),
               "kind": pl.when(pl.col("language") == "rust").then(pl.lit("function")).otherwise(pl.lit("def")),
               "split": pl.when(pl.col("split") == "train").then(pl.lit("eval")).otherwise(pl.lit("train"))}[column]
    new = old.with_columns(pl.when(pl.col("id") % 5 == 0).then(changed).otherwise(pl.col(column)).alias(column))
    assert not new.equals(old)
    assert_incremental(old, new, tmp_path, carried)


def test_split_changed_through_the_mapping(tmp_path, carried):
    chunks = preprocess_chunks(demo_chunks()).chunks
    splits = assign_splits(chunks.select("language", "repo", "file_path"), 0.2, seed=3)
    config = PairConfig(threshold=0.3)
    moved = dict(splits)
    for key in list(moved)[::4]:
        moved[key] = "train" if moved[key] == "eval" else "eval"
    cache = tmp_path / "demo.parquet"
    match_pairs(chunks, splits, config, save=cache)
    expected = match_pairs(chunks, moved, config)
    assert expected.height > 10 and not expected.equals(match_pairs(chunks, splits, config))
    incremental = match_pairs(chunks, moved, config, previous=cache)
    assert carried[-1] is not None
    assert parquet_bytes(incremental) == parquet_bytes(expected)


def test_the_demo_corpus_edited(tmp_path, carried):
    chunks = preprocess_chunks(demo_chunks()).chunks.with_columns(split=pl.lit("train"))
    config = PairConfig(threshold=0.3, max_word_postings=4)
    old, new = chunks.filter(pl.col("id") % 4 != 1), chunks.filter(pl.col("id") % 4 != 2)
    assert match_pairs(new, None, config).height > 10
    assert_incremental(old, new, tmp_path, carried, config)


def word_frame(rows: list[tuple[int, str, str, list[str], list[str]]]) -> pl.DataFrame:
    return pl.DataFrame([{"id": id_, "language": language, "repo": "r", "file_path": f"{language}/{id_}", "kind": kind,
                          "identifiers": words, "concepts": concepts, "split": "train"}
                         for id_, language, kind, words, concepts in rows], schema=SCHEMA)


# Rust 1 and Elixir 2 share only "zeta" (and their concept and kind): a candidate while at most 3 Elixir chunks hold
# "zeta", none once a fourth does; Rust 10 / Elixir 11 a pair that stays
BASE = [(1, "rust", "function", ["zeta", "alpha"], ["c1"]), (2, "elixir", "def", ["zeta", "beta"], ["c1"]),
        (3, "elixir", "module", ["zeta", "gamma"], ["c9"]), (4, "elixir", "module", ["zeta", "delta"], ["c8"]),
        (10, "rust", "function", ["omega"], ["c2"]), (11, "elixir", "def", ["omega"], ["c2"])]
FOURTH = (5, "elixir", "module", ["zeta", "eps"], ["c7"])


def has_pair(frame: pl.DataFrame, rust_id: int, elixir_id: int) -> bool:
    return frame.filter((pl.col("rust_id") == rust_id) & (pl.col("elixir_id") == elixir_id)).height == 1


def test_a_word_crossing_the_cap_upward(tmp_path, carried):
    """Unchanged chunks 1 and 2 lose their candidate when a new Elixir chunk caps their only shared word."""
    old, new = word_frame(BASE), word_frame([*BASE, FOURTH])
    assert has_pair(match_pairs(old, None, CAPPED), 1, 2)
    expected = assert_incremental(old, new, tmp_path, carried)
    assert not has_pair(expected, 1, 2) and has_pair(expected, 10, 11)
    # the same through a changed Elixir chunk that takes the word
    taking = word_frame([*BASE, (5, "elixir", "module", ["eps"], ["c7"])])
    assert not has_pair(assert_incremental(taking, new, tmp_path, carried), 1, 2)


def test_a_word_crossing_the_cap_downward(tmp_path, carried):
    """Unchanged chunks 1 and 2 gain a candidate when their only shared word opens again: a holder deleted or
    changed."""
    old = word_frame([*BASE, FOURTH])
    assert not has_pair(match_pairs(old, None, CAPPED), 1, 2)
    assert has_pair(assert_incremental(old, word_frame(BASE), tmp_path, carried), 1, 2)
    dropping = word_frame([*BASE, (5, "elixir", "module", ["eps"], ["c7"])])
    assert has_pair(assert_incremental(old, dropping, tmp_path, carried), 1, 2)


def test_words_crossing_the_cap_in_the_synthetic_corpus(old, tmp_path, carried):
    """Many words cross both ways at once (Elixir chunks added and removed), with unchanged pairs on both sides."""
    added = synthetic(80, seed=9, first_id=20_000).filter(pl.col("language") == "elixir")
    new = pl.concat([old.filter((pl.col("language") == "rust") | (pl.col("id") % 4 != 0)), added])
    postings = {name: frame.filter(pl.col("language") == "elixir").select(pl.col("identifiers").list.unique())
                .explode("identifiers")["identifiers"].value_counts() for name, frame in (("old", old), ("new", new))}
    counts = postings["old"].join(postings["new"], on="identifiers", how="full", suffix="_new").fill_null(0)
    assert counts.filter((pl.col("count") <= 3) & (pl.col("count_new") > 3)).height > 0
    assert counts.filter((pl.col("count") > 3) & (pl.col("count_new") <= 3)).height > 0
    assert_incremental(old, new, tmp_path, carried)


def test_a_chain_of_runs_through_one_cache_path(tmp_path, carried):
    """Each run reads the cache the last one wrote at the same path and replaces it."""
    cache = tmp_path / "chain.parquet"
    runs = [synthetic(300, seed=4)]
    for step in range(1, 4):
        last = runs[-1]
        runs.append(pl.concat([last.filter(pl.col("id") % (step + 4) != 0), synthetic(30, seed=10 + step,
                                                                                     first_id=1000 * step)]))
    match_pairs(runs[0], None, CAPPED, save=cache)
    for chunks in runs[1:]:
        incremental = match_pairs(chunks, None, CAPPED, previous=cache, save=cache)
        assert carried[-1] is not None
        assert parquet_bytes(incremental) == parquet_bytes(match_pairs(chunks, None, CAPPED))
    assert [path.name for path in tmp_path.iterdir()] == ["chain.parquet"]  # no temporary left


def test_another_config_computes_everything(old, tmp_path, carried):
    cache = tmp_path / "pairs-cache.parquet"
    match_pairs(old, None, CAPPED, save=cache)
    for config in (PairConfig(threshold=0.25, max_word_postings=3), PairConfig(threshold=0.2, max_word_postings=4),
                   PairConfig(threshold=0.2, max_word_postings=3, max_pairs_per_chunk=1)):
        carried.clear()
        assert parquet_bytes(match_pairs(old, None, config, previous=cache)) == \
            parquet_bytes(match_pairs(old, None, config))
        assert carried[0] is None


def test_another_format_or_code_computes_everything(old, tmp_path, carried, monkeypatch):
    cache = tmp_path / "pairs-cache.parquet"
    match_pairs(old, None, CAPPED, save=cache)
    format_ = pairs._CACHE_FORMAT
    monkeypatch.setattr(pairs, "_CACHE_FORMAT", format_ + 1)
    assert parquet_bytes(match_pairs(old, None, CAPPED, previous=cache)) == parquet_bytes(match_pairs(old, None, CAPPED))
    assert carried[0] is None
    monkeypatch.setattr(pairs, "_CACHE_FORMAT", format_)
    monkeypatch.setattr(pairs, "source_hash", lambda *paths: "another")
    carried.clear()
    match_pairs(old, None, CAPPED, previous=cache)
    assert carried[0] is None


def test_a_missing_or_corrupt_cache_computes_everything(old, tmp_path, carried):
    new = pl.concat([old, synthetic(40, seed=3, first_id=5000)])
    expected = parquet_bytes(match_pairs(new, None, CAPPED))
    good = tmp_path / "good.parquet"
    match_pairs(old, None, CAPPED, save=good)
    written = good.read_bytes()
    truncated, garbage, foreign, folder = (tmp_path / name for name in ("truncated", "garbage", "foreign", "folder"))
    truncated.write_bytes(written[: len(written) // 2])
    garbage.write_bytes(b"not a parquet file")
    old.write_parquet(foreign)  # a parquet file, not a cache
    folder.mkdir()
    for previous in (tmp_path / "missing.parquet", truncated, garbage, foreign, folder):
        carried.clear()
        assert parquet_bytes(match_pairs(new, None, CAPPED, previous=previous)) == expected
        assert carried[0] is None


def test_a_cache_with_the_right_key_and_wrong_contents_is_ignored(old, tmp_path, carried):
    cache = tmp_path / "pairs-cache.parquet"
    match_pairs(old, None, CAPPED, save=cache)
    metadata = pl.read_parquet_metadata(cache)
    metadata = {key: value for key, value in metadata.items() if key.startswith("rxt5.")}
    table = pl.read_parquet(cache)
    for broken in (table.drop("scores"),
                   table.with_columns(partners=pl.col("partners").list.eval(pl.element() + 10_000)),
                   table.with_columns(partners=pl.col("partners").list.eval(pl.element() - 10_000)),
                   table.with_columns(scores=pl.col("scores").list.head(1)),
                   table.with_columns(partners=pl.when(pl.col("id") % 2 == 0).then(pl.col("partners"))),
                   table.with_columns(scores=pl.col("scores").list.eval(pl.when(pl.element() > 0.5)
                                                                        .then(pl.element()))),
                   pl.concat([table, table.head(3)])):  # an id twice
        broken.write_parquet(cache, metadata=metadata)
        carried.clear()
        assert parquet_bytes(match_pairs(old, None, CAPPED, previous=cache)) == \
            parquet_bytes(match_pairs(old, None, CAPPED))
        assert carried[0] is None
    for capped in ("{not json", "[1, 2]", "{}"):
        table.write_parquet(cache, metadata={**metadata, "rxt5.pairs.capped": capped})
        carried.clear()
        match_pairs(old, None, CAPPED, previous=cache)
        assert carried[0] is None


def test_repeated_ids_compute_everything(old, tmp_path, carried):
    repeated = pl.concat([old, old.filter(pl.col("language") == "elixir").head(5)])
    assert_incremental(old, repeated, tmp_path, carried, used=False)
    assert_incremental(repeated, old, tmp_path, carried, used=False)


def test_one_language_missing_then_both(old, tmp_path, carried):
    for language in ("rust", "elixir"):
        only = old.filter(pl.col("language") == language)
        assert match_pairs(only, None, CAPPED).height == 0
        assert_incremental(only, old, tmp_path, carried)
        cache = tmp_path / "pairs-cache.parquet"
        match_pairs(old, None, CAPPED, save=cache)
        assert match_pairs(only, None, CAPPED, previous=cache).height == 0


@pytest.mark.parametrize("seed", range(6))
def test_random_edits(old, tmp_path, carried, seed):
    """Chunks deleted, added and edited in every compared column at once, under caps that many words cross."""
    rng = np.random.default_rng(seed)
    kept = old.filter(pl.Series(rng.random(old.height) > 0.15))
    edits = synthetic(kept.height, seed=100 + seed).select("identifiers", "concepts", "kind", "split")
    touched = pl.Series(rng.random(kept.height) < 0.1)
    new = pl.concat([kept.with_columns(pl.when(touched).then(edits[name]).otherwise(pl.col(name)).alias(name)
                                       for name in ("identifiers", "concepts", "kind", "split")),
                     synthetic(int(rng.integers(0, 50)), seed=200 + seed, first_id=50_000)])
    new = new.sample(fraction=1.0, shuffle=True, seed=seed) if seed % 2 else new  # ids out of order too
    for config in (CAPPED, PairConfig(threshold=0.3, max_word_postings=2, max_pairs_per_chunk=1)):
        assert_incremental(old, new, tmp_path, carried, config)


@pytest.mark.parametrize("high", [50, 2**40])  # packed into one uint64 key / too wide for it: polars' sort
def test_best_first_is_score_descending_then_both_keys(high):
    rng = np.random.default_rng(3)
    # unique (first, second) pairs, as candidates are, in no order; few distinct scores: many ties to break
    keys = rng.permutation(np.unique(rng.integers(0, high, (3000, 2)), axis=0))
    first, second = keys[:, 0], keys[:, 1]
    scores = rng.choice(np.round(rng.random(40), 3), len(keys))
    expected = np.lexsort((second, first, -scores))
    assert np.array_equal(pairs._best_first(scores, first, second), expected)
    assert len(pairs._best_first(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))) == 0
