"""The data stage's column-wise passes and caches: what they compute equals the per-row definitions."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl
import pytest

from rxt5_assets.data.examples import ExampleConfig, assign_splits, build_examples
from rxt5_assets.data.pairs import _STOP_WORDS, EQUIVALENT_KINDS, PAIR_SCHEMA, PairConfig, match_pairs
from rxt5_assets.data.preprocess import preprocess_chunks
from rxt5_assets.data.quality import QualityWeights
from rxt5_assets.data.scored_parts import build_examples_by_part
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
def demo_preprocessed() -> tuple[pl.DataFrame, pl.DataFrame]:
    result = preprocess_chunks(demo_chunks())
    return result.chunks, result.test_chunks


@pytest.fixture(scope="module")
def demo_analysed(demo_preprocessed) -> pl.DataFrame:
    return demo_preprocessed[0]


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
    # chunks in any order: ties go by ids, not positions
    assert match_pairs(with_split.sample(fraction=1.0, shuffle=True, seed=5), None, config).equals(expected)


def test_a_run_with_parts_appended_keeps_the_decisions_of_the_first_parts(demo_preprocessed, tmp_path: Path):
    """The first run scores a prefix of the table; the next one has more parts after it. The dedup decisions of the
    prefix are the first run's (only the later candidates are decided, against the earlier kept ones), examples and
    counts equal scoring everything at once — near duplicates across the boundary included."""
    chunks, test_chunks = demo_preprocessed
    config = ExampleConfig(quality_threshold=0.5, eval_fraction=0.2, near_duplicate_threshold=0.6)
    prefix = chunks.head(240)
    first_parts = write_parts(prefix, tmp_path / "first", [97])
    by_part(first_parts, test_chunks, config, tmp_path / "cache-1")
    parts = write_parts(chunks, tmp_path / "parts", [97, 143, 60])  # the same first two parts, then new ones
    assert [name for name, _ in parts[:2]] == [name for name, _ in first_parts]
    calls = []
    result = build_examples_by_part(parts, test_chunks, config, tmp_path / "cache-2",
                                    lambda frame, index: calls.append((index, frame)), tmp_path / "cache-1",
                                    carriable=1)
    expected = build_examples(chunks, test_chunks, config)
    assert expected.dropped["near_duplicate"] > 0
    assert [index for index, frame in calls if frame is None] == [0] and result.parts_carried == 1
    # the carried part's examples are the first run's part 0: what the full build has first
    first_examples = []
    build_examples_by_part(first_parts, test_chunks, config, tmp_path / "cache-0",
                           lambda frame, index: first_examples.append(frame))
    built = pl.concat([first_examples[0], *[frame for _, frame in calls if frame is not None]])
    assert built.equals(expected.examples) and result.dropped == expected.dropped
    assert result.examples == expected.examples.height and result.scores.equals(expected.scores)
    # a changed first part: nothing is decided from the first run, the same result
    moved = write_parts(chunks, tmp_path / "moved", [96, 144, 60], salt="moved-")  # other rows: other names
    frames = []
    again = build_examples_by_part(moved, test_chunks, config, tmp_path / "cache-3",
                                   lambda frame, index: frames.append(frame), tmp_path / "cache-1", carriable=3)
    assert again.parts_carried == 0 and pl.concat(frames).equals(expected.examples)


def write_parts(chunks: pl.DataFrame, folder: Path, sizes: list[int], salt: str = "") -> list[tuple[str, Path]]:
    """`chunks` cut into parts of the given sizes (the rest in the last), named by their rows like carry.py does."""
    folder.mkdir(parents=True, exist_ok=True)
    parts, start = [], 0
    for index, size in enumerate([*sizes, chunks.height]):
        part = chunks.slice(start, size if index < len(sizes) else chunks.height - start)
        start += part.height
        path = folder / f"part-{index:05d}.parquet"
        part.write_parquet(path)
        parts.append((f"{salt}{index}-" + "-".join(map(str, part["id"].head(3).to_list())), path))
        if start >= chunks.height:
            break
    return parts


def by_part(parts, test_chunks, config, cache: Path, previous_cache: Path | None = None):
    frames = []
    result = build_examples_by_part(parts, test_chunks, config, cache, lambda frame, index: frames.append(frame),
                                    previous_cache=previous_cache)
    return result, pl.concat(frames)


def test_scoring_part_by_part_equals_scoring_everything_at_once(demo_preprocessed, tmp_path: Path):
    chunks, test_chunks = demo_preprocessed
    config = ExampleConfig(quality_threshold=0.5, eval_fraction=0.2, near_duplicate_threshold=0.6)
    expected = build_examples(chunks, test_chunks, config)
    assert {"test", "implement", "generate", "document"} <= set(expected.examples["task"])  # the test tasks too
    assert expected.dropped["near_duplicate"] > 0 and expected.dropped["below_quality_threshold"] > 0
    parts = write_parts(chunks, tmp_path / "parts", [97, 250, 31])
    first, examples = by_part(parts, test_chunks, config, tmp_path / "cache-1")
    assert first.parts_scored == len(parts) == 4 and first.parts_from_cache == 0
    assert examples.equals(expected.examples)
    assert first.scores.equals(expected.scores) and first.dropped == expected.dropped
    # the next run takes every part from the first one's cache, and gets the same
    second, examples = by_part(parts, test_chunks, config, tmp_path / "cache-2", tmp_path / "cache-1")
    assert second.parts_scored == 0 and second.parts_from_cache == 4
    assert examples.equals(expected.examples) and second.dropped == expected.dropped
    # another scoring configuration finds no valid entry: every part is scored again, with the new weights
    weights = QualityWeights(baseline=0.5)
    changed = ExampleConfig(quality_threshold=0.5, eval_fraction=0.2, near_duplicate_threshold=0.6, weights=weights)
    third, examples = by_part(parts, test_chunks, changed, tmp_path / "cache-3", tmp_path / "cache-1")
    assert third.parts_scored == 4 and third.parts_from_cache == 0
    assert examples.equals(build_examples(chunks, test_chunks, changed).examples)
    assert not examples.equals(expected.examples)


def test_a_second_materialization_carries_the_first_and_says_so(database, tmp_path: Path):
    """In Dagster: a retrain after new code reads the latest materialization's folder, and the metadata tells how
    much it carried (cache hits) and what it did now (misses); its dataset is a full rebuild's."""
    from dagster import AssetKey, DagsterInstance, materialize

    from rxt5_assets.defs.data_assets import DATA_ASSETS
    from rxt5_assets.ingest import ingest_demo
    from rxt5_assets_tests.data.test_incremental import NEW_ELIXIR, NEW_RUST
    from rxt5_assets_tests.test_definitions import resources

    ingest_demo(database, progress=False)

    def run(home: Path) -> tuple[dict, dict, bytes]:
        with DagsterInstance.ephemeral() as instance:
            assert materialize(DATA_ASSETS, resources=resources(database, home, batch_size=300),
                               instance=instance).success
            meta = {name: {k: v.value for k, v in instance.get_latest_materialization_event(
                AssetKey(name)).asset_materialization.metadata.items()}
                for name in ("preprocessed_chunks", "scored_examples")}
        manifest = json.loads((home / "datasets" / "rust_elixir_v1" / "manifest.json").read_text())
        return meta["preprocessed_chunks"], meta["scored_examples"], Path(manifest["train_file"]).read_bytes()

    first, first_scored, _ = run(tmp_path / "home")
    assert first["chunks_carried"] == 0 and first["parts_carried"] == 0 and first_scored["parts_from_cache"] == 0
    with database.connect() as conn:
        conn.execute("insert into code_chunks (content, language, file_path, repo) values (%s, 'rust', %s, 'late'), "
                     "(%s, 'elixir', %s, 'late')", (NEW_RUST, "src/billing.rs", NEW_ELIXIR, "lib/billing.ex"))
    second, second_scored, train = run(tmp_path / "home")
    assert second["analysed_now"] == 2 and second["rows_fetched"] == 2
    assert second["parts_carried"] == first["parts"] and second["parts"] == first["parts"] + 1
    assert second_scored["parts_from_cache"] == first["parts"] and second_scored["parts_scored"] == 1
    with database.connect() as conn:
        conn.execute("truncate chunk_analyses")
    *_, rebuilt = run(tmp_path / "fresh-home")  # another workspace: nothing to carry
    assert train == rebuilt
