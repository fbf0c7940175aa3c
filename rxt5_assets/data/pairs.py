"""Cross-language learning: Rust↔Elixir pairs matched on shared concepts and names, and examples built from them.

match score = concept_weight · Jaccard(concepts) + name_weight · Jaccard(identifier words) + kind_weight · kinds agree
Candidates are only compared when they share an identifier word (an inverted index), so matching stays near-linear on
large corpora. Each chunk takes part in at most `max_pairs_per_chunk` pairs, best scores first.

Incremental: a run can save its candidates (see `_save_candidates`) and the next one start from them, recomputing only
the pairs that touch a chunk changed since, or an Elixir chunk holding a word that crossed `max_word_postings`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from rxt5_assets.data.carry import source_hash, unique_temporary
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


_JOIN_ROWS_PER_SLICE = 2_000_000  # (rust chunk, elixir chunk, shared word) rows at a time: memory follows a slice
_GREEDY_BLOCK = 1_000_000  # candidates per pass of the assignment: those of chunks already full are skipped in numpy


def _codes(frame: pl.DataFrame, key: str, column: str, vocabulary: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A list column as (owner, value code) arrays, each value once per owner (a set), stop words removed."""
    members = (frame.select(key, value=column).explode("value").drop_nulls("value").unique()
               .join(vocabulary, on="value"))
    return members[key].to_numpy().astype(np.int64), members["code"].to_numpy().astype(np.int64)


def _masks(owners: np.ndarray, codes: np.ndarray, count: int, width: int) -> np.ndarray | None:
    """A set of codes per owner as bits: (count,) uint64 for up to 64 codes, else (count, ⌈width/64⌉); None for none."""
    if width == 0:
        return None
    bits = np.left_shift(np.uint64(1), (codes % 64).astype(np.uint64))
    if width <= 64:
        masks = np.zeros(count, dtype=np.uint64)
        np.bitwise_or.at(masks, owners, bits)
        return masks
    masks = np.zeros((count, (width + 63) // 64), dtype=np.uint64)
    np.bitwise_or.at(masks, (owners, codes // 64), bits)
    return masks


def _shared(first: np.ndarray | None, second: np.ndarray | None, r: np.ndarray, e: np.ndarray) -> np.ndarray | int:
    """|A ∩ B| of the bit sets of rust chunks r and elixir chunks e."""
    if first is None:
        return 0
    common = np.bitwise_count(first[r] & second[e])
    return common.astype(np.int64) if common.ndim == 1 else common.sum(axis=1, dtype=np.int64)


def _set_sizes(masks: np.ndarray | None, count: int) -> np.ndarray:
    if masks is None:
        return np.zeros(count, dtype=np.int64)
    sizes = np.bitwise_count(masks)
    return sizes.astype(np.int64) if sizes.ndim == 1 else sizes.sum(axis=1, dtype=np.int64)


@dataclass
class _Cached:
    """A previous run's candidates carried into this run: those between two chunks unchanged since, in this run's
    positions, and the words that run had capped."""

    rust_clean: np.ndarray  # per Rust position: the same chunk (id, kind, split, identifiers, concepts) as then
    elixir_clean: np.ndarray
    r: np.ndarray
    e: np.ndarray
    score: np.ndarray
    capped: list[str]


def _candidates(rust: pl.DataFrame, elixir: pl.DataFrame, config: PairConfig,
                cached: _Cached | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Every candidate (r, e) — they share an identifier word that at most `max_word_postings` Elixir chunks hold —
    whose score reaches the threshold, with both files on the same side of the split: positions r, e and scores; and
    the capped words (what a later run compares its own with).

    Array-wise: words and concepts get integer codes; each Rust chunk's open words are expanded into the Elixir chunks
    holding them (an inverted index as sorted arrays), a slice of Rust chunks at a time; a pair's count of such rows is
    its count of shared open words; capped words and concepts are bitmasks (shared count: a popcount). Jaccard from set
    sizes, |A ∪ B| = |A| + |B| − |A ∩ B|: the same floats, in the same order of operations, as the per-pair formula.

    With `cached`, only pairs with a changed chunk are expanded: changed Rust chunks against every Elixir one, the
    others against changed Elixir ones. An Elixir chunk holding a word that was capped then and is open now, or the
    reverse, counts as changed: a pair of unchanged chunks shares the same words as then, so it is a candidate now
    exactly when it was then unless one of them flipped, and every shared word is the Elixir chunk's."""
    words = pl.concat([rust["identifiers"], elixir["identifiers"]]).explode().drop_nulls().unique().sort()
    words = words.filter(~words.is_in(sorted(_STOP_WORDS)))
    vocabulary = pl.DataFrame({"value": words, "code": pl.int_range(words.len(), eager=True, dtype=pl.Int64)})
    rust_owner, rust_word = _codes(rust, "r", "identifiers", vocabulary)
    elixir_owner, elixir_word = _codes(elixir, "e", "identifiers", vocabulary)
    concepts = pl.concat([rust["concepts"], elixir["concepts"]]).explode().drop_nulls().unique().sort()
    concept_vocabulary = pl.DataFrame({"value": concepts,
                                       "code": pl.int_range(concepts.len(), eager=True, dtype=pl.Int64)})
    rust_concepts = _masks(*_codes(rust, "r", "concepts", concept_vocabulary), rust.height, concepts.len())
    elixir_concepts = _masks(*_codes(elixir, "e", "concepts", concept_vocabulary), elixir.height, concepts.len())
    rust_word_count = np.bincount(rust_owner, minlength=rust.height)
    elixir_word_count = np.bincount(elixir_owner, minlength=elixir.height)
    rust_concept_count = _set_sizes(rust_concepts, rust.height)
    elixir_concept_count = _set_sizes(elixir_concepts, elixir.height)

    postings = np.bincount(elixir_word, minlength=words.len())
    is_open = postings <= config.max_word_postings
    capped_words = words.filter(pl.Series(~is_open)).to_list()
    capped_code = np.cumsum(~is_open) - 1  # capped words numbered 0, 1, …
    capped = ~is_open[rust_word]
    rust_capped = _masks(rust_owner[capped], capped_code[rust_word[capped]], rust.height, int((~is_open).sum()))
    capped = ~is_open[elixir_word]
    elixir_capped = _masks(elixir_owner[capped], capped_code[elixir_word[capped]], elixir.height,
                           int((~is_open).sum()))
    open_rows = is_open[rust_word]
    rust_owner, rust_word = rust_owner[open_rows], rust_word[open_rows]
    order = np.argsort(rust_owner, kind="stable")
    rust_owner, rust_word = rust_owner[order], rust_word[order]

    rust_kind, elixir_kind = rust["kind_code"].to_numpy(), elixir["kind_code"].to_numpy()
    equivalent = _EQUIVALENT_TABLE
    rust_split, elixir_split = _split_codes(rust["split"], elixir["split"])
    weights = (config.concept_weight, config.name_weight, config.kind_weight)
    found_r, found_e, found_score = [], [], []

    def expand(owners: np.ndarray, owner_words: np.ndarray, partner_rows: np.ndarray | None) -> None:
        """Rows (Rust chunk, open word), by chunk, into the Elixir chunks of `partner_rows` (None: all) holding the
        word; the pairs reaching the threshold go to found_*."""
        partner_owner, partner_word = ((elixir_owner, elixir_word) if partner_rows is None
                                       else (elixir_owner[partner_rows], elixir_word[partner_rows]))
        # the inverted index: the Elixir chunks of each open word, contiguous
        index_owner = partner_owner[np.argsort(partner_word, kind="stable")]
        index_postings = np.bincount(partner_word, minlength=words.len())
        index_start = np.zeros(words.len() + 1, dtype=np.int64)
        np.cumsum(index_postings, out=index_start[1:])
        fanout = index_postings[owner_words]
        cumulative = np.cumsum(fanout)
        first = 0
        while first < len(owners):
            # whole Rust chunks per slice, about _JOIN_ROWS_PER_SLICE expanded rows each
            base = cumulative[first - 1] if first else 0
            last = int(np.searchsorted(cumulative, base + _JOIN_ROWS_PER_SLICE, side="right"))
            last = max(last, first + 1)
            if last < len(owners):
                last = int(np.searchsorted(owners, owners[last], side="left")) or last
                if last <= first:
                    last = int(np.searchsorted(owners, owners[first], side="right"))
            counts = fanout[first:last]
            total = int(counts.sum())
            if total:
                rows = np.repeat(owners[first:last], counts)
                starts = np.repeat(index_start[owner_words[first:last]] - (np.cumsum(counts) - counts), counts)
                partners = index_owner[starts + np.arange(total)]
                keys, shared_open = np.unique(rows * elixir.height + partners, return_counts=True)
                r, e = keys // elixir.height, keys % elixir.height
                shared_words = shared_open + _shared(rust_capped, elixir_capped, r, e)
                shared_concepts = _shared(rust_concepts, elixir_concepts, r, e)
                word_union = rust_word_count[r] + elixir_word_count[e] - shared_words
                concept_union = rust_concept_count[r] + elixir_concept_count[e] - shared_concepts
                with np.errstate(divide="ignore", invalid="ignore"):
                    score = (weights[0] * np.where(concept_union > 0, shared_concepts / concept_union, 0.0)
                             + weights[1] * np.where(word_union > 0, shared_words / word_union, 0.0)
                             + weights[2] * equivalent[rust_kind[r], elixir_kind[e]])
                keep = (score >= config.threshold) & (rust_split[r] == elixir_split[e])
                found_r.append(r[keep].astype(np.int32))
                found_e.append(e[keep].astype(np.int32))
                found_score.append(score[keep])
            first = last

    if cached is None:
        expand(rust_owner, rust_word, None)
    else:
        flipped = words.is_in(pl.Series(cached.capped, dtype=pl.String).implode()).to_numpy() != ~is_open
        elixir_clean = cached.elixir_clean.copy()
        elixir_clean[elixir_owner[flipped[elixir_word]]] = False
        kept = elixir_clean[cached.e]  # both clean: rust_clean was applied when the cache was read
        found_r.append(cached.r[kept])
        found_e.append(cached.e[kept])
        found_score.append(cached.score[kept])
        changed_rows = ~cached.rust_clean[rust_owner]
        expand(rust_owner[changed_rows], rust_word[changed_rows], None)
        expand(rust_owner[~changed_rows], rust_word[~changed_rows], ~elixir_clean[elixir_owner])
    if not found_r:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float64), capped_words
    return np.concatenate(found_r), np.concatenate(found_e), np.concatenate(found_score), capped_words


def _split_codes(rust_splits: pl.Series, elixir_splits: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    names = {name: code for code, name in enumerate(sorted(set(rust_splits.unique()) | set(elixir_splits.unique())))}
    return (rust_splits.replace_strict(names, return_dtype=pl.Int64).to_numpy(),
            elixir_splits.replace_strict(names, return_dtype=pl.Int64).to_numpy())


_KINDS = {kind: code for code, kind in enumerate(sorted({kind for pair in EQUIVALENT_KINDS for kind in pair}))}
# kind_weight's factor by (rust kind code, elixir kind code); the last code is every kind not in EQUIVALENT_KINDS
_EQUIVALENT_TABLE = np.zeros((len(_KINDS) + 1, len(_KINDS) + 1), dtype=np.float64)
for _rust_kind, _elixir_kind in EQUIVALENT_KINDS:
    _EQUIVALENT_TABLE[_KINDS[_rust_kind], _KINDS[_elixir_kind]] = 1.0


_CACHE_FORMAT = 1  # the layout below and what its candidates mean
# one row per chunk of the run (Rust ones, then Elixir ones, each in the run's order) with what its pairs' scores and
# candidacy depend on; a Rust row lists its candidates: Elixir positions (among the Elixir rows) and scores
_CACHE_SCHEMA = {"id": pl.Int64, "language": pl.String, "kind": pl.String, "split": pl.String,
                 "identifiers": pl.List(pl.String), "concepts": pl.List(pl.String), "partners": pl.List(pl.Int32),
                 "scores": pl.List(pl.Float64)}
_COMPARED = ("kind", "split", "identifiers", "concepts")  # with the id and language: a chunk "unchanged"


def _cache_key(config: PairConfig) -> str:
    """What the cached candidates depend on besides the chunks: the config, the layout, this module's code (its stop
    words, kinds and formula)."""
    return json.dumps({"format": _CACHE_FORMAT, "config": dataclasses.asdict(config),
                       "code": source_hash(Path(__file__))}, sort_keys=True)


def _save_candidates(path: Path, config: PairConfig, rust: pl.DataFrame, elixir: pl.DataFrame, r: np.ndarray,
                     e: np.ndarray, score: np.ndarray, capped: list[str]) -> None:
    """The run's candidates and chunks as one parquet file, written under a temporary name then renamed: a reader
    sees a whole cache or the one before."""
    # candidates come carried first, then expanded anew: grouped by Rust chunk here, one list each (polars' own
    # group_by, not pyarrow's list arrays: importing pyarrow alone costs a retrain 0.4 s)
    order = np.argsort(r, kind="stable")
    lists = pl.DataFrame({"row": r[order].astype(np.int64), "partners": e[order].astype(np.int32),
                          "scores": score[order].astype(np.float64)}).group_by("row", maintain_order=True).agg(
        "partners", "scores")
    columns = ["id", "language", *_COMPARED]
    table = (pl.concat([rust.select(columns), elixir.select(columns)]).with_row_index("row").with_columns(
        pl.col("row").cast(pl.Int64)).join(lists, on="row", how="left", maintain_order="left")
        .with_columns(pl.col("id").cast(pl.Int64),  # Elixir rows, and Rust rows without candidates, list none
                      pl.col("partners").fill_null(pl.lit([], dtype=pl.List(pl.Int32))),
                      pl.col("scores").fill_null(pl.lit([], dtype=pl.List(pl.Float64))))
        .select(list(_CACHE_SCHEMA)).cast(_CACHE_SCHEMA))
    temporary = unique_temporary(path)
    try:
        # lz4: a third of zstd's read time on 800k candidates, for twice the bytes (a few MB)
        table.write_parquet(temporary, compression="lz4",
                            metadata={"rxt5.pairs.key": _cache_key(config), "rxt5.pairs.capped": json.dumps(capped)})
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_candidates(path: Path, config: PairConfig, rust: pl.DataFrame, elixir: pl.DataFrame) -> _Cached | None:
    """The candidates saved at `path` between chunks unchanged since, in this run's positions; None where the file
    is missing, unreadable, of another key or shape, or ids repeat within a language (then a chunk has no one
    identity): the run computes everything, whatever is wrong with the file."""
    try:
        metadata = pl.read_parquet_metadata(path)
        if metadata.get("rxt5.pairs.key") != _cache_key(config):
            return None
        return _carried(pl.read_parquet(path), json.loads(metadata["rxt5.pairs.capped"]), rust, elixir)
    except Exception:  # noqa: BLE001 — a cache never fails a run
        return None


def _carried(table: pl.DataFrame, capped: list[str], rust: pl.DataFrame, elixir: pl.DataFrame) -> _Cached | None:
    """A read cache checked (it is what `_save_candidates` writes, or None) and mapped onto this run's chunks."""
    if (table.schema != pl.Schema(_CACHE_SCHEMA) or not isinstance(capped, list)
            or not all(isinstance(word, str) for word in capped)):
        return None
    before = {language: table.filter(pl.col("language") == language) for language in ("rust", "elixir")}
    lengths = before["rust"]["partners"].list.len()
    partners = before["rust"]["partners"].explode(empty_as_null=False)
    scores = before["rust"]["scores"].explode(empty_as_null=False)
    if (any(frame["id"].n_unique() != frame.height for frame in (*before.values(), rust, elixir))
            or table["partners"].null_count() or table["scores"].null_count()
            or partners.null_count() or scores.null_count()
            or not lengths.equals(before["rust"]["scores"].list.len())
            or before["elixir"]["partners"].list.len().sum() != 0
            or (partners.len() and (partners.min() < 0 or partners.max() >= before["elixir"].height))):
        return None
    rust_clean, rust_now = _unchanged(rust, before["rust"], "r")
    elixir_clean, elixir_now = _unchanged(elixir, before["elixir"], "e")
    r = rust_now[np.repeat(np.arange(before["rust"].height), lengths.to_numpy())]
    e = elixir_now[partners.to_numpy()]
    kept = (r >= 0) & (e >= 0)
    return _Cached(rust_clean, elixir_clean, r[kept].astype(np.int32), e[kept].astype(np.int32),
                   scores.to_numpy()[kept], capped)


def _unchanged(now: pl.DataFrame, before: pl.DataFrame, position: str) -> tuple[np.ndarray, np.ndarray]:
    """Which of this run's chunks are the same as in `before` (same id and compared columns), and each of `before`'s
    rows' position now where it is unchanged (−1 where not)."""
    joined = now.select(position, pl.col("id").cast(pl.Int64), *_COMPARED).join(
        before.select("id", *_COMPARED).with_row_index("before"), on="id", how="left", suffix="_before",
        maintain_order="left")
    same = joined.select(pl.all_horizontal(pl.col("before").is_not_null(), *(
        pl.col(name).eq_missing(pl.col(f"{name}_before")) for name in _COMPARED))).to_series().to_numpy()
    position_now = np.full(before.height, -1, dtype=np.int64)
    position_now[joined["before"].fill_null(0).to_numpy()[same]] = joined[position].to_numpy()[same]
    return same, position_now


def _best_first(scores: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The candidates' order: score descending, then `first`, then `second` ascending (non-negative integers; a total
    order when the pairs are unique). Packed into one uint64 key when the score's dense rank and both keys fit (scores
    take a few hundred values: 1 M chunks' 18.6 M candidates sort in ~1.6 s instead of polars' multi-column 4.2 s),
    else polars' multi-column sort; the same order either way."""
    if not len(scores):
        return np.zeros(0, dtype=np.int64)
    series = pl.Series(scores + 0.0)  # + 0.0: -0.0 is 0.0
    values = series.unique().sort(descending=True)
    bits = [int(v).bit_length() for v in (values.len(), first.max(), second.max())]
    if first.min() >= 0 and second.min() >= 0 and sum(bits) <= 64:
        # the dense rank (1 = best) by a hash of the few distinct scores, not a sort of them all
        rank = series.replace_strict(values, pl.int_range(1, values.len() + 1, eager=True, dtype=pl.UInt64),
                                     return_dtype=pl.UInt64)
        frame = pl.DataFrame({"rank": rank, "first": first, "second": second})
        key = frame.select(key=pl.col("rank") * (1 << (bits[1] + bits[2]))
                           + pl.col("first").cast(pl.UInt64) * (1 << bits[2]) + pl.col("second").cast(pl.UInt64))
        return key["key"].arg_sort().to_numpy()
    frame = pl.DataFrame({"score": -scores, "first": first, "second": second}).with_row_index("order")
    return frame.sort("score", "first", "second")["order"].to_numpy()


def match_pairs(chunks: pl.DataFrame, splits: dict[tuple[str, str], str] | None,
                config: PairConfig = PairConfig(), previous: Path | None = None,
                save: Path | None = None) -> pl.DataFrame:
    """Pairs of (rust, elixir) accepted chunks with score ≥ threshold, both on the same side of the split; each chunk in
    at most `max_pairs_per_chunk` pairs, taken best score first (ties by rust id, then elixir id). The split of a file
    comes from `splits` ((repo, file_path) → split), or from the chunks' own `split` column when `splits` is None; a
    file with none is on the train side.

    `save` writes this run's candidates there (a parquet file, published by a rename) for a later run's `previous`:
    that run then expands only the pairs touching a chunk changed since (see `_candidates`), with the same result as
    from scratch. A `previous` that is missing, unreadable, or written under another config, format or code of this
    module is ignored (everything computed)."""
    needed = chunks.select("id", "language", "repo", "file_path", "kind", "identifiers", "concepts",
                           *(["split"] if splits is None else []))
    if splits is not None:
        split_frame = pl.DataFrame([(repo, path, split) for (repo, path), split in splits.items()],
                                   schema={"repo": pl.String, "file_path": pl.String, "split": pl.String}, orient="row")
        needed = needed.join(split_frame, on=["repo", "file_path"], how="left", maintain_order="left")
    needed = needed.with_columns(
        pl.col("split").fill_null("train"),
        kind_code=pl.col("kind").replace_strict(_KINDS, default=len(_KINDS), return_dtype=pl.Int64))
    rust = needed.filter(pl.col("language") == "rust").with_row_index("r")
    elixir = needed.filter(pl.col("language") == "elixir").with_row_index("e")
    if rust.height == 0 or elixir.height == 0:
        if save is not None:  # no candidates: the next run computes every pair, all having a chunk new to it
            _save_candidates(Path(save), config, rust, elixir, np.zeros(0, np.int32), np.zeros(0, np.int32),
                             np.zeros(0, np.float64), [])
        return pl.DataFrame(schema=PAIR_SCHEMA)
    cached = _read_candidates(Path(previous), config, rust, elixir) if previous is not None else None
    r_positions, e_positions, scores, capped = _candidates(rust, elixir, config, cached)
    if save is not None:
        _save_candidates(Path(save), config, rust, elixir, r_positions, e_positions, scores, capped)
    rust_ids, elixir_ids = rust["id"].to_numpy(), elixir["id"].to_numpy()
    # best score first, then by ids (a total order: a pair of ids is unique); chunks in id order (the stage's
    # parts are) let the positions stand for the ids: small keys that pack into one
    if rust["id"].is_sorted() and elixir["id"].is_sorted():
        order = _best_first(scores, r_positions, e_positions)
    else:
        order = _best_first(scores, rust_ids[r_positions], elixir_ids[e_positions])
    limit = config.max_pairs_per_chunk
    rust_uses = np.zeros(rust.height, dtype=np.int64)
    elixir_uses = np.zeros(elixir.height, dtype=np.int64)
    accepted = []
    for start in range(0, len(order), _GREEDY_BLOCK):
        block = order[start:start + _GREEDY_BLOCK]
        r_block, e_block = r_positions[block], e_positions[block]
        open_ = (rust_uses[r_block] < limit) & (elixir_uses[e_block] < limit)  # a full chunk stays full
        block, r_block, e_block = block[open_], r_block[open_], e_block[open_]
        rust_list, elixir_list = rust_uses.tolist(), elixir_uses.tolist()
        for index, r, e in zip(block.tolist(), r_block.tolist(), e_block.tolist()):
            if rust_list[r] >= limit or elixir_list[e] >= limit:
                continue
            rust_list[r] += 1
            elixir_list[e] += 1
            accepted.append(index)
        rust_uses, elixir_uses = np.array(rust_list, dtype=np.int64), np.array(elixir_list, dtype=np.int64)
    if not accepted:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    accepted = np.array(accepted, dtype=np.int64)
    return _pair_rows(rust.select("id", "identifiers", "concepts", "split")[r_positions[accepted]],
                      elixir.select("id", "identifiers", "concepts")[e_positions[accepted]], scores[accepted])


def _pair_rows(rust_rows: pl.DataFrame, elixir_rows: pl.DataFrame, scores: np.ndarray) -> pl.DataFrame:
    """The accepted pairs' frame, column-wise: both ids, the score rounded as Python rounds, the shared concepts and
    the shared identifier words (stop words out), each sorted."""
    stop = pl.lit(sorted(_STOP_WORDS), dtype=pl.List(pl.String))
    frame = pl.DataFrame({"rust_words": rust_rows["identifiers"], "elixir_words": elixir_rows["identifiers"],
                          "rust_concepts": rust_rows["concepts"], "elixir_concepts": elixir_rows["concepts"]})
    shared = frame.select(
        shared_concepts=pl.col("rust_concepts").list.set_intersection("elixir_concepts").list.sort(),
        shared_words=pl.col("rust_words").list.set_intersection("elixir_words").list.set_difference(stop)
        .list.sort())
    return pl.DataFrame({"rust_id": rust_rows["id"], "elixir_id": elixir_rows["id"],
                         "match_score": [round(score, 4) for score in scores.tolist()],
                         "shared_concepts": shared["shared_concepts"], "shared_identifiers": shared["shared_words"],
                         "split": rust_rows["split"]}).cast(PAIR_SCHEMA)


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
