"""The data layer on real tree-sitter analyses: drop reasons, scores, examples, split, pairs, mix."""

from __future__ import annotations

import json
import random

import numpy as np
import polars as pl
import pytest

from rxt5_assets.data.dataset import MixConfig, files_on_both_sides, mix_training_split
from rxt5_assets.data.examples import (ExampleConfig, assign_splits, build_examples, estimated_jaccard, file_split,
                                      minhash_signatures, near_duplicates)
from rxt5_assets.data.pairs import PairConfig, match_pairs, pair_examples
from rxt5_assets.data.preprocess import identifier_words_expr, like_to_glob, preprocess_chunks
from rxt5_assets.data.quality import QualityWeights, letter_share, quality_score
from rxt5_assets.languages import get
from rxt5_assets.languages._ts import identifier_words

RUST_GOOD = '''\
/// Parses a `key=value` configuration line.
///
/// Returns an error when the line has no `=`.
pub fn parse_config(line: &str) -> Result<(String, String), ConfigError> {
    let (key, value) = line.split_once('=').ok_or(ConfigError::MissingEquals)?;
    match key.trim() {
        "" => Err(ConfigError::EmptyKey),
        key => Ok((key.to_string(), value.trim().to_string())),
    }
}
'''

ELIXIR_GOOD = '''\
@doc """
Parses a `key=value` configuration line.
"""
@spec parse_config(String.t()) :: {:ok, {String.t(), String.t()}} | {:error, atom()}
def parse_config(line) when is_binary(line) do
  case String.split(line, "=", parts: 2) do
    [key, value] -> {:ok, {String.trim(key), value |> String.trim()}}
    _ -> {:error, :missing_equals}
  end
end
'''

RUST_PLAIN = "fn helper(values: Vec<u32>) -> u32 {\n    let mut total = 0;\n    for v in values { total += v; }\n    total\n}\n"


def frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"id": pl.Int64, "content": pl.String, "language": pl.String,
                                      "file_path": pl.String, "repo": pl.String}, orient="row")


def test_bad_rows_are_dropped_with_counted_reasons():
    rows = [
        (1, RUST_GOOD, "rust", "src/config.rs", "r"),
        (2, None, "rust", "src/a.rs", "r"),  # NULL content
        (3, RUST_GOOD.replace("parse_config", "p2"), None, "src/a.rs", "r"),  # NULL language
        (4, RUST_GOOD.replace("parse_config", "p3"), "rust", None, "r"),  # NULL file_path
        (5, "   \n\t  ", "rust", "src/a.rs", "r"),  # empty
        (6, RUST_GOOD.replace("Parses", "Pa\x00rses"), "rust", "src/a.rs", "r"),  # NUL byte
        (7, RUST_GOOD.replace("parse_config", "p4"), "cobol", "src/a.cbl", "r"),  # no such language module
        (8, "x" * 20, "rust", "src/a.rs", "r"),  # the seed's LENGTH(content) >= 50
        (9, RUST_GOOD.replace("parse_config", "p5"), "rust", "src/tests/a.rs", "r"),  # the seed's test path filter
        (10, "// " + "y" * 2_000_000, "rust", "src/huge.rs", "r"),  # 2 MB
        (11, RUST_GOOD, "rust", "src/copy.rs", "r"),  # same content again
        (12, ELIXIR_GOOD, "rust", "lib/config.ex", "r"),  # Elixir labelled rust
        (13, "}}}} ))) ;;; fn fn fn {{{{ impl impl ]]] }}}} >>> <<< ::: @@@ ### !!!", "rust", "src/broken.rs", "r"),  # unparseable
    ]
    result = preprocess_chunks(frame(rows), ("rust", "elixir"))
    assert result.chunks["id"].to_list() == [1]
    assert dict(result.dropped) == {
        "null_content": 1, "null_language": 1, "null_file_path": 1, "empty": 1, "nul_bytes": 1,
        "unknown_language": 1, "too_short": 1, "test_path": 1, "too_large": 1, "duplicate_chunk": 1,
        "wrong_language": 1, "unparseable": 1,
    }
    assert result.test_chunks["id"].to_list() == [9]  # kept aside as a test target
    assert result.rows_in == len(rows) == sum(result.dropped.values()) + result.chunks.height


def test_identifier_words_column_matches_the_per_chunk_split():
    names = [["TtlCache", "evict_expired!"], ["HTTPServer", "parseHTTP2Frame"], ["utf8_decode", "U8", "sha256sum"],
             ["Display for TtlCache<K, V>", "8BitCounter"], ["Billing.InvoiceTest", "total_due/2"], [], ["x", "T"]]
    column = pl.select(identifier_words_expr(pl.Series([" ".join(n) for n in names]))).to_series().to_list()
    assert [set(words) for words in column] == [set(identifier_words(n)) for n in names]
    assert column[1] == ["frame", "http", "parse", "server"]  # sorted, unique


def test_like_pattern_matches_postgres_semantics():
    glob = like_to_glob("%test%")
    assert glob == "*test*"
    assert like_to_glob("a_b[c]") == "a?b[[]c[]]"


def test_quality_score_is_explained_and_bounded():
    rust = get("rust")
    good, plain = rust.analyze(RUST_GOOD), rust.analyze(RUST_PLAIN)
    good_score, good_breakdown = quality_score(RUST_GOOD, good, rust.quality_indicators(good))
    plain_score, _ = quality_score(RUST_PLAIN, plain, rust.quality_indicators(plain))
    assert 0.0 <= plain_score < 0.7 <= good_score <= 1.0
    assert good_breakdown["score"] == pytest.approx(good_score, abs=1e-4)
    assert good_breakdown["indicator_doc_comments"] > 0 and good_breakdown["penalty_syntax_error"] == 1.0
    generated = "// @generated by protoc, DO NOT EDIT\n" + RUST_GOOD
    generated_score, generated_breakdown = quality_score(generated, rust.analyze(generated),
                                                         rust.quality_indicators(rust.analyze(generated)))
    assert generated_breakdown["penalty_generated"] < 1 and generated_score < good_score
    assert letter_share("0x00, 0x01, 0x02, 0x03") < 0.35 < letter_share("let total = a + b;")
    strict = QualityWeights(baseline=0.0, saturation=100.0)
    assert quality_score(RUST_GOOD, good, rust.quality_indicators(good), strict)[0] < 0.1


def analysed(rows: list[tuple]) -> pl.DataFrame:
    return preprocess_chunks(frame(rows), ("rust", "elixir")).chunks


def test_examples_cover_the_tasks_and_respect_the_threshold():
    chunks = analysed([(1, RUST_GOOD, "rust", "src/config.rs", "r"), (2, RUST_PLAIN, "rust", "src/util.rs", "r"),
                       (3, ELIXIR_GOOD, "elixir", "lib/config.ex", "e")])
    result = build_examples(chunks, chunks.head(0), ExampleConfig(quality_threshold=0.7, eval_fraction=0.0))
    examples = result.examples
    assert set(examples["code_chunk_id"]) == {1, 3}  # the plain helper scores below 0.7
    assert result.dropped["below_quality_threshold"] == 1
    by_task = {(row["language"], row["task"]): row for row in examples.iter_rows(named=True)}
    assert {("rust", "implement"), ("rust", "generate"), ("rust", "document"), ("elixir", "implement")} <= set(by_task)
    implement = by_task[("rust", "implement")]
    assert implement["input"].startswith("implement rust: Parses a `key=value` configuration line.")
    assert "pub fn parse_config" in implement["input"] and "split_once" in implement["target"]
    assert by_task[("rust", "document")]["target"].startswith("Parses a `key=value`")
    assert json.loads(implement["quality_breakdown"])["score"] >= 0.7


def test_exact_and_near_duplicates_are_removed():
    # the same function with one comment added, in another file: a near duplicate, not an exact one
    twin = RUST_GOOD.replace("Err(ConfigError::EmptyKey),", "Err(ConfigError::EmptyKey), // no key")
    chunks = analysed([(1, RUST_GOOD, "rust", "src/a.rs", "r"), (2, twin, "rust", "src/b.rs", "r")])
    result = build_examples(chunks, chunks.head(0), ExampleConfig(eval_fraction=0.0))
    assert result.dropped["near_duplicate"] >= 1
    assert result.examples.filter(pl.col("task") == "implement").height == 1
    unrelated = analysed([(1, RUST_GOOD, "rust", "src/a.rs", "r"), (2, RUST_PLAIN, "rust", "src/b.rs", "r")])
    assert "near_duplicate" not in build_examples(unrelated, unrelated.head(0),
                                                  ExampleConfig(eval_fraction=0.0, quality_threshold=0.0)).dropped


def test_minhash_estimates_the_jaccard_of_byte_8_grams():
    rng = random.Random(3)
    words = [f"w{rng.randrange(10**6):06d}" for _ in range(400)]  # distinct 7-byte words: 8-grams never repeat
    base = "".join(words).encode()
    pairs = []
    for keep in (0.2, 0.5, 0.8, 0.9, 1.0):
        cut = int(len(base) * keep)
        pairs.append((base, base[:cut]))  # a prefix: Jaccard ≈ keep
    first = minhash_signatures([a for a, _ in pairs])
    second = minhash_signatures([b for _, b in pairs])
    shingles = [({a[i:i + 8] for i in range(len(a) - 7)}, {b[i:i + 8] for i in range(len(b) - 7)}) for a, b in pairs]
    true = np.array([len(x & y) / len(x | y) for x, y in shingles])
    estimated = estimated_jaccard(first, second)
    assert np.abs(estimated - true).max() < 0.15 and estimated[-1] == 1.0
    # short texts (fewer 8-grams than bins) still compare on the bins they fill
    assert estimated_jaccard(*minhash_signatures([b"let x = 1;", b"let x = 1;"])[:, None])[0] == 1.0
    # near_duplicates keeps the first of a close pair, only within a group, and never chains through a dropped row
    signatures = minhash_signatures([base, base[: int(len(base) * 0.9)], base, b"something else entirely"])
    assert near_duplicates(signatures, np.array([0, 0, 1, 0]), 0.8).tolist() == [False, True, False, False]


def test_layout_only_changes_are_exact_duplicates():
    reindented = RUST_GOOD.replace("    ", "\t")
    chunks = analysed([(1, RUST_GOOD, "rust", "src/a.rs", "r"), (2, reindented, "rust", "src/b.rs", "r")])
    result = build_examples(chunks, chunks.head(0), ExampleConfig(eval_fraction=0.0))
    assert result.dropped["duplicate_example"] >= 3 and "near_duplicate" not in result.dropped
    assert set(result.examples["code_chunk_id"]) == {1}


def test_split_is_by_file_deterministic_and_stable():
    files = pl.DataFrame({"language": ["rust"] * 40, "repo": ["r"] * 40, "file_path": [f"src/f{i}.rs" for i in range(40)]})
    first = assign_splits(files, 0.2, seed=1)
    assert first == assign_splits(files, 0.2, seed=1)
    assert 0 < list(first.values()).count("eval") < 40
    # a file keeps its side when the corpus grows
    grown = pl.concat([files, pl.DataFrame({"language": ["rust"], "repo": ["r"], "file_path": ["src/new.rs"]})])
    assert all(assign_splits(grown, 0.2, seed=1)[key] == split for key, split in first.items())
    assert file_split("r", "src/f1.rs", 0.2, 1) == first[("r", "src/f1.rs")]


def test_pairs_match_shared_concepts_and_names_and_become_transfer_examples():
    chunks = analysed([(1, RUST_GOOD, "rust", "src/config.rs", "r"), (2, ELIXIR_GOOD, "elixir", "lib/config.ex", "e"),
                       (3, RUST_PLAIN, "rust", "src/util.rs", "r")])
    scored = chunks.with_columns(pl.lit(0.9).alias("quality_score"))
    pairs = match_pairs(scored, {}, PairConfig(threshold=0.35))
    assert pairs.select("rust_id", "elixir_id").rows() == [(1, 2)]
    assert "parse" in pairs["shared_identifiers"][0] and "result_tuple" in pairs["shared_concepts"][0]
    assert match_pairs(scored, {}, PairConfig(threshold=0.99)).height == 0  # the threshold is honoured
    examples = pair_examples(pairs, scored)
    tasks = set(zip(examples["language"], examples["task"]))
    assert {("rust->elixir", "translate"), ("elixir->rust", "translate"), ("rust->elixir", "concept_transfer")} <= tasks
    translate = examples.filter((pl.col("task") == "translate") & (pl.col("language") == "rust->elixir")).row(0, named=True)
    assert translate["input"].startswith("translate rust to elixir: /// Parses") and "def parse_config" in translate["target"]
    # a pair whose two files sit on different sides of the split is never made
    splits = {("r", "src/config.rs"): "train", ("e", "lib/config.ex"): "eval"}
    assert match_pairs(scored, splits).height == 0


def _examples(counts: dict[str, int]) -> pl.DataFrame:
    rows = []
    for language, count in counts.items():
        for i in range(count):
            rows.append({"input": f"{language} {i}", "target": "t", "language": language, "task": "implement",
                         "quality_score": 0.7 + i / 1000, "source_id": str(i), "code_chunk_id": i, "repo": "r",
                         "file_path": f"{language}/{i}", "split": "eval" if i % 10 == 0 else "train",
                         "quality_breakdown": "{}"})
    return pl.DataFrame(rows)


def test_weights_set_the_mix_and_eval_is_untouched():
    examples = _examples({"rust": 100, "elixir": 100, "rust->elixir": 50})
    train, evaluation, report = mix_training_split(examples, MixConfig())
    assert report["produced_train"] == {"cross": 45, "elixir": 90, "rust": 90}
    heavy, evaluation_heavy, heavy_report = mix_training_split(examples, MixConfig(rust_weight=2.0, elixir_weight=0.5))
    assert heavy_report["produced_train"] == {"cross": 45, "elixir": 45, "rust": 180}
    assert heavy_report["share"]["rust"] > report["share"]["rust"]
    assert evaluation_heavy.height == evaluation.height == 25
    off, _, off_report = mix_training_split(examples, MixConfig(cross_language_learning=False))
    assert "cross" not in off_report["produced_train"] and not any("->" in l for l in off["language"])
    capped, _, capped_report = mix_training_split(examples, MixConfig(max_examples=45))
    assert capped.height == 45 and capped_report["produced_train"] == {"cross": 9, "elixir": 18, "rust": 18}
    assert files_on_both_sides(train, evaluation) == []


def demo_chunks(*extra: tuple[str, str, str, str]) -> pl.DataFrame:
    """The demo corpus cut by the language modules' chunkers: code_chunks rows without a database."""
    from rxt5_assets import languages
    from rxt5_assets.ingest import DEMO_CORPUS

    rows = []
    for path in sorted(DEMO_CORPUS.rglob("*")):
        module = languages.for_path(path)
        if module is not None and path.is_file():
            rows += [(item.text, module.name, str(path.relative_to(DEMO_CORPUS)), path.parts[-3])
                     for item in module.chunk(path.read_bytes())]
    return frame([(position + 1, *row) for position, row in enumerate([*rows, *extra])])


def test_item_targets_are_whole_valid_items():
    """What the model learns to write parses as an item of its language: an Elixir module header chunk (a defmodule
    cut before its functions) gets its `end` back, and bodiless heads declaring defaults count as valid."""
    result = preprocess_chunks(demo_chunks())
    examples = build_examples(result.chunks, result.test_chunks, ExampleConfig(quality_threshold=0.0)).examples
    kinds = dict(zip(result.chunks["id"].to_list(), result.chunks["kind"].to_list()))
    whole_items = examples.filter(pl.col("task").is_in(["implement", "generate"]))
    assert {"module_header", "struct", "def", "trait_impl"} <= {kinds[i] for i in whole_items["code_chunk_id"]}
    invalid = [(row["language"], kinds[row["code_chunk_id"]], row["target"][:80])
               for row in whole_items.iter_rows(named=True) if not get(row["language"]).is_valid_item(row["target"])]
    assert invalid == []


def test_two_workers_give_the_same_analysis_as_one():
    chunks = demo_chunks(("fn broken( {{{{ this is not rust at all ]]]] ;;;; ))))", "rust", "src/x.rs", "r"))
    pl.select(pl.lit(1)).item()  # polars' thread pool is up before the fork: workers must not touch it
    one = preprocess_chunks(chunks, workers=1)
    two = preprocess_chunks(chunks, workers=2)
    assert one.chunks.height > 500 and one.dropped == two.dropped and one.dropped["unparseable"] == 1
    assert one.chunks.equals(two.chunks) and one.test_chunks.equals(two.test_chunks)
