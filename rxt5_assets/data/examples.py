"""Quality scoring & filtering, then (input → target) examples for T5.

Tasks, each with a language-tagged prefix ("<verb> <language>: …"):
  implement  description/doc + signature → the item without its docs
  generate   description → the whole item, docs included
  document   item → its `///` / @doc text
  test       item → its tests (`#[cfg(test)]` module of the same file, or the ExUnit module testing it)
Cross-language tasks ("translate rust to elixir: …") are built from pairs in `pairs.py`.

The split is by file: a file's hash (with the seed) decides train or eval, so no file is on both sides, and the same file
lands on the same side in every later dataset — a model trained on one version is never evaluated on its training files.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import polars as pl

from rxt5_assets.data.quality import QualityWeights, quality_score
from rxt5_assets.languages import Analysis

EXAMPLE_SCHEMA = {
    "input": pl.String,
    "target": pl.String,
    "language": pl.String,
    "task": pl.String,
    "quality_score": pl.Float64,
    "source_id": pl.String,
    "code_chunk_id": pl.Int64,
    "repo": pl.String,
    "file_path": pl.String,
    "split": pl.String,
    "quality_breakdown": pl.String,
}

@dataclass(frozen=True)
class ExampleConfig:
    quality_threshold: float = 0.7
    eval_fraction: float = 0.1
    seed: int = 42
    max_input_chars: int = 3000
    max_target_chars: int = 2400
    near_duplicate_threshold: float = 0.8  # estimated Jaccard of byte 8-grams of the whitespace-normalised target
    weights: QualityWeights = field(default_factory=QualityWeights)


@dataclass
class ExampleResult:
    examples: pl.DataFrame  # EXAMPLE_SCHEMA
    scores: pl.DataFrame  # id, language, quality_score, passed, breakdown — one row per chunk
    dropped: Counter = field(default_factory=Counter)


def _file_position(repo: str, file_path: str, seed: int) -> float:
    """A file's seeded, stable position in [0, 1): files below eval_fraction go to eval."""
    digest = hashlib.blake2b(f"{seed}:{repo}:{file_path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def file_split(repo: str, file_path: str, eval_fraction: float, seed: int) -> str:
    return "eval" if _file_position(repo, file_path, seed) < eval_fraction else "train"


def assign_splits(files: pl.DataFrame, eval_fraction: float, seed: int) -> dict[tuple[str, str], str]:
    """(repo, file_path) → split, with at least one eval file per language whenever a language has two files."""
    splits: dict[tuple[str, str], str] = {}
    for language, group in files.group_by("language"):
        keys = sorted(set(zip(group["repo"].to_list(), group["file_path"].to_list())))
        chosen = {key: file_split(*key, eval_fraction, seed) for key in keys}
        if eval_fraction > 0 and len(keys) >= 2 and "eval" not in chosen.values():
            # the file whose hash is smallest is the one a larger eval_fraction would have taken first
            first = min(keys, key=lambda key: _file_position(*key, seed))
            chosen[first] = "eval"
        for key, split in chosen.items():
            splits.setdefault(key, split)  # a file shared by two languages keeps its first decision
    return splits


def first_paragraph(doc: str) -> str:
    return doc.strip().split("\n\n", 1)[0].strip()


def _normalise(text: str) -> str:
    return " ".join(text.split())  # whitespace runs → one space (several times faster than re.sub)


def _analysis_of(row: dict) -> Analysis:
    return Analysis(
        language=row["language"], kind=row["kind"], name=row["name"], patterns=frozenset(row["patterns"]),
        doc=row["doc"], signature=row["signature"], body=row["body"], code_without_docs=row["code_without_docs"],
        tests=row["tests"], has_syntax_error=row["has_syntax_error"], concepts=frozenset(row["concepts"]),
        identifiers=frozenset(row["identifiers"]),
    )


def _score(row: dict, config: ExampleConfig) -> tuple[float, str]:
    score, breakdown = quality_score(row["content"], _analysis_of(row), json.loads(row["indicators"]), config.weights)
    return score, json.dumps(breakdown)


def _score_and_build(row: dict, config: ExampleConfig) -> tuple[float, str, list[tuple[str, str, str, np.ndarray]]]:
    """Worker: one chunk's score and breakdown, and — when it passes — its item tasks with their targets' MinHash."""
    score, breakdown = _score(row, config)
    if score < config.quality_threshold:
        return score, breakdown, []
    return score, breakdown, [(task, source, target, minhash_signature(target))
                              for task, source, target in _item_tasks(row)]


def _scores_frame(scored: list[tuple[int, str, float, str]], config: ExampleConfig) -> pl.DataFrame:
    return pl.DataFrame(
        [(chunk_id, language, score, score >= config.quality_threshold, breakdown)
         for chunk_id, language, score, breakdown in scored],
        orient="row",
        schema={"id": pl.Int64, "language": pl.String, "quality_score": pl.Float64, "passed": pl.Boolean,
                "breakdown": pl.String},
    )


def _item_tasks(row: dict) -> list[tuple[str, str, str]]:
    """(task, input, target) for one accepted chunk."""
    language, doc, code = row["language"], row["doc"].strip(), row["code_without_docs"].strip()
    description = first_paragraph(doc)
    tasks = []
    if row["signature"] and code:
        prompt = f"{description}\n{row['signature']}" if description else row["signature"]
        tasks.append(("implement", f"implement {language}: {prompt}", code))
    if description:
        tasks.append(("generate", f"generate {language} {row['kind']}: {description}", row["content"].strip()))
        if code:
            tasks.append(("document", f"document {language}: {code}", doc))
    if row["tests"].strip():
        without_tests = row["content"].replace(row["tests"], "").strip()
        if without_tests:
            tasks.append(("test", f"write tests {language}: {without_tests}", row["tests"].strip()))
    return tasks


def _test_tasks(chunks: pl.DataFrame, test_chunks: pl.DataFrame) -> list[tuple[dict, str, str, str]]:
    """item → tests across chunks: a Rust file's test module tests the file's other items; an ExUnit module
    `Foo.BarTest` tests the module `Foo.Bar`."""
    tasks = []
    by_file: dict[tuple[str, str], list[dict]] = {}
    modules: dict[str, dict] = {}
    for row in chunks.iter_rows(named=True):
        by_file.setdefault((row["repo"], row["file_path"]), []).append(row)
        if row["kind"] in ("module", "module_header") and row["name"]:
            modules[row["name"]] = row
    for rows in by_file.values():
        test_modules = [r for r in rows if r["kind"] == "test_module"]
        items = [r for r in rows if r["kind"] != "test_module"]
        for test_module in test_modules:
            if items:
                subject = "\n\n".join(r["content"].strip() for r in items)
                tasks.append((items[0], "test", f"write tests {test_module['language']}: {subject}",
                              test_module["content"].strip()))
    for test_row in test_chunks.iter_rows(named=True):
        subject_name = test_row["name"].removesuffix("Test") if test_row["name"] else ""
        subject = modules.get(subject_name)
        if subject is not None and subject_name != test_row["name"]:
            tasks.append((subject, "test", f"write tests {subject['language']}: {subject['content'].strip()}",
                          test_row["content"].strip()))
    return tasks


SHINGLE_BYTES = 8
NUM_PERM = 64
_PERMUTATION_RNG = np.random.default_rng(7)
_PERM_A = _PERMUTATION_RNG.integers(1, 2**31, NUM_PERM, dtype=np.uint32) | np.uint32(1)  # odd: a bijection mod 2^32
_PERM_B = _PERMUTATION_RNG.integers(0, 2**31, NUM_PERM, dtype=np.uint32)
_WINDOW_WEIGHTS = np.array([257 ** k for k in range(SHINGLE_BYTES)], dtype=np.uint64)
LSH_BANDS, LSH_ROWS = 16, 4


def minhash_signature(text: str) -> np.ndarray:
    """MinHash over the byte 8-grams of whitespace-normalised text, vectorised with numpy (integer arithmetic wraps).

    Hashing shingles one by one in Python (what datasketch's update_batch does), and its per-object set-up, cost more
    than the rest of the data stage together; here a whole text is one sliding-window product and one broadcast min.
    """
    data = np.frombuffer(_normalise(text).encode("utf-8").ljust(SHINGLE_BYTES), dtype=np.uint8).astype(np.uint64)
    hashes = np.lib.stride_tricks.sliding_window_view(data, SHINGLE_BYTES) @ _WINDOW_WEIGHTS
    # MurmurHash3's 64-bit finalizer spreads the polynomial hash before the affine permutations
    hashes ^= hashes >> np.uint64(33)
    hashes *= np.uint64(0xFF51AFD7ED558CCD)
    hashes ^= hashes >> np.uint64(33)
    # 32-bit shingle hashes: half the width of the broadcast below
    hashes = (hashes >> np.uint64(32)).astype(np.uint32)
    return (hashes[:, None] * _PERM_A + _PERM_B).min(axis=0)


def remove_near_duplicates(examples: list[dict], threshold: float, dropped: Counter) -> list[dict]:
    """Exact duplicates by normalised (task, input, target); near duplicates by MinHash-LSH on the target.

    LSH with 16 bands of 4 rows finds candidates (a pair at Jaccard 0.8 shares a band with probability > 0.999); each
    candidate is then verified against `threshold` with the signatures' agreement, so the decision follows the
    estimated Jaccard and not the luck of the banding.
    """
    buckets: dict[tuple, list[int]] = {}
    signatures: list[np.ndarray] = []
    kept, seen_exact = [], set()
    for example in examples:
        key = hashlib.blake2b(
            "\x1f".join((example["task"], _normalise(example["input"]), _normalise(example["target"]))).encode(),
            digest_size=16,
        ).digest()
        if key in seen_exact:
            dropped["duplicate_example"] += 1
            continue
        seen_exact.add(key)
        values = example.get("signature")
        if values is None:
            values = minhash_signature(example["target"])
        group = (example["language"], example["task"])
        band_keys = [(group, band, values[band * LSH_ROWS:(band + 1) * LSH_ROWS].tobytes()) for band in range(LSH_BANDS)]
        candidates = {index for band_key in band_keys for index in buckets.get(band_key, ())}
        if any((signatures[index] == values).mean() >= threshold for index in candidates):
            dropped["near_duplicate"] += 1
            continue
        for band_key in band_keys:
            buckets.setdefault(band_key, []).append(len(kept))
        signatures.append(values)
        kept.append(example)
    return kept


def build_examples(chunks: pl.DataFrame, test_chunks: pl.DataFrame, config: ExampleConfig = ExampleConfig(),
                   workers: int = 1) -> ExampleResult:
    """Score every analysed chunk, keep those at or above the threshold, and turn them into examples.

    Scoring, item tasks and MinHash signatures are per chunk and run on `workers` processes; the split, the
    cross-chunk test tasks and deduplication need the whole set and run here.
    """
    from rxt5_assets.data.preprocess import parallel_map

    dropped: Counter = Counter()
    rows = list(chunks.iter_rows(named=True))
    built = parallel_map(partial(_score_and_build, config=config), rows, workers)
    scores = _scores_frame([(row["id"], row["language"], score, breakdown)
                            for row, (score, breakdown, _) in zip(rows, built)], config)
    dropped["below_quality_threshold"] = int((~scores["passed"]).sum()) if scores.height else 0
    passed = chunks.join(scores.filter(pl.col("passed")).select("id", "quality_score", "breakdown"), on="id")
    splits = assign_splits(passed.select("language", "repo", "file_path"), config.eval_fraction, config.seed)

    candidates: list[dict] = []

    def add(row: dict, task: str, source: str, target: str, signature: np.ndarray | None = None) -> None:
        if len(source) > config.max_input_chars:
            dropped["input_too_long"] += 1
        elif len(target) > config.max_target_chars:
            dropped["target_too_long"] += 1
        else:
            candidates.append({
                "input": source, "target": target, "language": row["language"], "task": task,
                "quality_score": row["quality_score"], "source_id": str(row["id"]), "code_chunk_id": row["id"],
                "repo": row["repo"], "file_path": row["file_path"],
                "split": splits[(row["repo"], row["file_path"])], "quality_breakdown": row["breakdown"],
                "signature": signature,
            })

    for row, (score, breakdown, tasks) in zip(rows, built):  # tasks is empty below the threshold
        scored_row = {**row, "quality_score": score, "breakdown": breakdown}
        for task, source, target, signature in tasks:
            add(scored_row, task, source, target, signature)
    for row, task, source, target in _test_tasks(passed, test_chunks):
        add(row, task, source, target)

    kept = remove_near_duplicates(candidates, config.near_duplicate_threshold, dropped)
    for example in kept:
        example.pop("signature")
    examples = pl.DataFrame(kept, schema=EXAMPLE_SCHEMA, orient="row") if kept else pl.DataFrame(schema=EXAMPLE_SCHEMA)
    return ExampleResult(examples=examples, scores=scores, dropped=+dropped)
