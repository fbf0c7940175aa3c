"""Retrieval-augmented training examples: the same context, in the same prompt format, as generation with RAG gets.

`augment_examples` rewrites the input of each implement/generate example (one language, from one chunk) to
`with_context(input, language, retrieve(description, repo, language))`, where retrieval

* searches only the example's own repo and language,
* never returns the example's own chunk (`source_id` / `code_chunk_id`): the model must not learn to copy its target,
* draws only from train-side files, so neither a train row nor an eval row ever sees an eval file's code — nothing of
  the held-out split leaks into training, and eval rows get the context a new item of the repo would get.

Other rows (document, test, cross-language) are returned unchanged. The rows themselves are not mutated.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import psycopg

from rxt5_assets.retrieval.prompt import DEFAULT_MAX_CHARS, with_context
from rxt5_assets.retrieval.search import DEFAULT_METHOD, retrieve

AUGMENTED_TASKS = frozenset({"implement", "generate"})
DEFAULT_K = 2


def query_of(input_text: str) -> str:
    """What a user would have typed: the example's input without its task prefix (`generate rust fn: `)."""
    head, sep, rest = input_text.partition(": ")
    words = head.split()
    return rest if sep and words and words[0] in AUGMENTED_TASKS else input_text


def own_chunk_id(row: dict) -> int | None:
    for key in ("code_chunk_id", "source_id"):
        value = row.get(key)
        if value is None or value == "":
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            continue  # a pair's "12:34" is not one chunk
    return None


def augmentable(row: dict) -> bool:
    return (row.get("task") in AUGMENTED_TASKS and row.get("language") in ("rust", "elixir") and bool(row.get("repo"))
            and own_chunk_id(row) is not None)


def train_side_files(rows: Iterable[dict]) -> set[tuple[str, str]]:
    return {(row["repo"], row["file_path"]) for row in rows if row.get("split") == "train" and row.get("repo")}


def augment_examples(examples: Sequence[dict], conn: psycopg.Connection, *,
                     train_files: Iterable[tuple[str, str]] | None = None, k: int = DEFAULT_K,
                     method: str = DEFAULT_METHOD, max_chars: int = DEFAULT_MAX_CHARS, encoder=None) -> list[dict]:
    """New rows: implement/generate inputs with retrieved context (see the module doc), the rest as they were.

    `train_files`: the (repo, file_path) context may come from; default: the files of the rows whose `split` is
    'train'. Rows without a split and no `train_files` raise ValueError rather than risk a leak.
    """
    if train_files is None:
        if any("split" not in row for row in examples if augmentable(row)):
            raise ValueError("augment_examples needs train_files (the train-side (repo, file_path) set) for rows "
                             "without a split, so that no eval file's code becomes context")
        train_files = train_side_files(examples)
    allowed = set(train_files)
    excluded_files: dict[tuple[str, str], tuple[str, ...]] = {}

    def not_allowed(repo: str, language: str) -> tuple[str, ...]:
        key = (repo, language)
        if key not in excluded_files:
            paths = [p for (p,) in conn.execute(
                "select distinct file_path from code_chunks where repo = %s and language = %s", key)]
            excluded_files[key] = tuple(sorted(p for p in paths if (repo, p) not in allowed))
        return excluded_files[key]

    out: list[dict] = []
    for row in examples:
        if not augmentable(row):
            out.append(dict(row))
            continue
        repo, language = row["repo"], row["language"]
        hits = retrieve(conn, query_of(row["input"]), repo=repo, language=language, k=k, method=method,
                        exclude_chunk_ids=(own_chunk_id(row),), exclude_files=not_allowed(repo, language),
                        encoder=encoder)
        out.append({**row, "input": with_context(row["input"], language, hits, max_chars=max_chars)})
    return out


def augment_frame(conn: psycopg.Connection, frame: Any, **kwargs) -> Any:
    """`augment_examples` over a polars frame of EXAMPLE_SCHEMA (the data stage's examples): same columns, new input."""
    import polars as pl

    rows = frame.to_dicts()
    augmented = augment_examples(rows, conn, **kwargs)
    return frame.with_columns(pl.Series("input", [row["input"] for row in augmented], dtype=pl.String))
