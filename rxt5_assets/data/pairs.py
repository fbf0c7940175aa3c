"""Cross-language learning: Rust↔Elixir pairs matched on shared concepts and names, and examples built from them.

match score = concept_weight · Jaccard(concepts) + name_weight · Jaccard(identifier words) + kind_weight · kinds agree
Candidates are only compared when they share an identifier word (an inverted index), so matching stays near-linear on
large corpora. Each chunk takes part in at most `max_pairs_per_chunk` pairs, best scores first.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import polars as pl

from rxt5_assets.data.examples import EXAMPLE_SCHEMA, first_paragraph

# Item kinds that play the same role in both languages.
EQUIVALENT_KINDS = {
    ("function", "def"), ("function", "defp"), ("struct", "module"), ("struct", "module_header"),
    ("enum", "module"), ("trait", "module"), ("trait", "module_header"), ("impl", "module"), ("trait_impl", "module"),
    ("mod", "module"), ("module", "module"), ("test_module", "test_module"), ("macro", "defmacro"),
}

PAIR_SCHEMA = {
    "rust_id": pl.Int64,
    "elixir_id": pl.Int64,
    "match_score": pl.Float64,
    "shared_concepts": pl.List(pl.String),
    "shared_identifiers": pl.List(pl.String),
    "split": pl.String,
}

# Words too common to say two items are about the same thing.
_STOP_WORDS = frozenset({"new", "get", "set", "from", "to", "is", "the", "a", "of", "fn", "impl", "def", "t", "self",
                         "test", "tests", "it", "with", "into", "for", "and", "ok", "error", "result", "value"})


@dataclass(frozen=True)
class PairConfig:
    threshold: float = 0.35
    concept_weight: float = 0.4
    name_weight: float = 0.45
    kind_weight: float = 0.15
    max_pairs_per_chunk: int = 2
    # a word shared by more Elixir chunks than this finds no candidates (it still counts in the score): on a large
    # table the common words would otherwise compare every Rust chunk with most Elixir ones
    max_word_postings: int = 2000


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def match_pairs(chunks: pl.DataFrame, splits: dict[tuple[str, str], str], config: PairConfig = PairConfig()) -> pl.DataFrame:
    """Pairs of (rust, elixir) accepted chunks with score ≥ threshold, both on the same side of the split."""
    needed = chunks.select("id", "language", "repo", "file_path", "kind", "identifiers", "concepts")  # not the code
    rust = list(needed.filter(pl.col("language") == "rust").iter_rows(named=True))
    elixir = list(needed.filter(pl.col("language") == "elixir").iter_rows(named=True))
    index: dict[str, list[int]] = defaultdict(list)
    elixir_words = []
    for position, row in enumerate(elixir):
        words = set(row["identifiers"]) - _STOP_WORDS
        elixir_words.append(words)
        for word in words:
            index[word].append(position)
    for word in [word for word, postings in index.items() if len(postings) > config.max_word_postings]:
        del index[word]

    # the score of every candidate from set sizes (|A ∪ B| = |A| + |B| − |A ∩ B|): the same floats as
    # _jaccard, without building the unions; the shared words and concepts are listed only for pairs that score
    elixir_concepts = [frozenset(row["concepts"]) for row in elixir]
    elixir_kinds = [row["kind"] for row in elixir]
    concept_weight, name_weight, kind_weight = config.concept_weight, config.name_weight, config.kind_weight
    # passing candidates as three flat arrays (a tuple per pair costs ~100 bytes: gigabytes on a large table)
    passing_scores, passing_rust, passing_elixir = array("d"), array("q"), array("q")
    for rust_position, row in enumerate(rust):
        words = set(row["identifiers"]) - _STOP_WORDS
        concepts = set(row["concepts"])
        word_count, concept_count, kind = len(words), len(concepts), row["kind"]
        candidates: set[int] = set()
        for word in words:
            postings = index.get(word)
            if postings:
                candidates.update(postings)
        for position in candidates:
            other_words, other_concepts = elixir_words[position], elixir_concepts[position]
            shared_concept_count = len(concepts & other_concepts)
            concept_union = concept_count + len(other_concepts) - shared_concept_count
            shared_word_count = len(words & other_words)
            word_union = word_count + len(other_words) - shared_word_count
            score = (
                concept_weight * (shared_concept_count / concept_union if concept_union else 0.0)
                + name_weight * (shared_word_count / word_union if word_union else 0.0)
                + kind_weight * ((kind, elixir_kinds[position]) in EQUIVALENT_KINDS)
            )
            if score >= config.threshold:
                passing_scores.append(score)
                passing_rust.append(rust_position)
                passing_elixir.append(position)

    scores = np.frombuffer(passing_scores, dtype=np.float64)
    rust_positions = np.frombuffer(passing_rust, dtype=np.int64)
    elixir_positions = np.frombuffer(passing_elixir, dtype=np.int64)
    rust_ids = np.array([row["id"] for row in rust], dtype=np.int64)
    elixir_ids = np.array([row["id"] for row in elixir], dtype=np.int64)
    # best score first, then by ids (a total order: a pair of ids is unique)
    order = np.lexsort((elixir_ids[elixir_positions], rust_ids[rust_positions], -scores)) if len(scores) else []
    uses: Counter = Counter()
    pairs = []
    for index in order.tolist() if len(scores) else []:
        score, row, position = float(scores[index]), rust[int(rust_positions[index])], int(elixir_positions[index])
        other = elixir[position]
        if uses[row["id"]] >= config.max_pairs_per_chunk or uses[other["id"]] >= config.max_pairs_per_chunk:
            continue
        rust_split = splits.get((row["repo"], row["file_path"]), "train")
        elixir_split = splits.get((other["repo"], other["file_path"]), "train")
        if rust_split != elixir_split:
            continue  # a pair spanning both sides would leak one side's code into the other
        uses[row["id"]] += 1
        uses[other["id"]] += 1
        words, concepts = set(row["identifiers"]) - _STOP_WORDS, set(row["concepts"])
        pairs.append((row["id"], other["id"], round(score, 4), sorted(concepts & elixir_concepts[position]),
                      sorted(words & elixir_words[position]), rust_split))
    return pl.DataFrame(pairs, schema=PAIR_SCHEMA, orient="row") if pairs else pl.DataFrame(schema=PAIR_SCHEMA)


def pair_examples(pairs: pl.DataFrame, chunks: pl.DataFrame, max_chars: int = 2400) -> pl.DataFrame:
    """Transfer examples both ways, plus concept-conditioned prompts that describe one side's item for the other.

    `chunks` carry their quality_score; a pair's examples take the lower of its two chunks' scores."""
    paired = set(pairs["rust_id"].to_list()) | set(pairs["elixir_id"].to_list())
    by_id = {row["id"]: row for row in chunks.filter(pl.col("id").is_in(list(paired))).iter_rows(named=True)}
    rows = []
    for pair in pairs.iter_rows(named=True):
        rust, elixir = by_id[pair["rust_id"]], by_id[pair["elixir_id"]]
        common = {"quality_score": min(rust["quality_score"], elixir["quality_score"]), "source_id": f"{rust['id']}:{elixir['id']}", "code_chunk_id": None,
                  "split": pair["split"], "quality_breakdown": None}
        for source, target, direction in ((rust, elixir, "rust->elixir"), (elixir, rust, "elixir->rust")):
            source_code = source["content"].strip() + source["closing"]  # whole items (see Analysis.closing)
            target_code = target["content"].strip() + target["closing"]
            if len(source_code) > max_chars or len(target_code) > max_chars:
                continue
            src_lang, dst_lang = direction.split("->")
            rows.append({**common, "input": f"translate {src_lang} to {dst_lang}: {source_code}", "target": target_code,
                         "language": direction, "task": "translate", "repo": target["repo"],
                         "file_path": target["file_path"]})
            description = first_paragraph(source["doc"])
            if description and pair["shared_concepts"]:
                concepts = ", ".join(pair["shared_concepts"])
                rows.append({**common, "input": f"implement {dst_lang} using {concepts}: {description}",
                             "target": target_code, "language": direction, "task": "concept_transfer",
                             "repo": target["repo"], "file_path": target["file_path"]})
    return pl.DataFrame(rows, schema=EXAMPLE_SCHEMA, orient="row") if rows else pl.DataFrame(schema=EXAMPLE_SCHEMA)
