"""Retrieval from the repo's own chunks in PostgreSQL: full-text search, pgvector embeddings, and their fusion.

* `search.retrieve(conn, query, repo=..., language=...)` — the chunks of one repo (and language) that best match a
  query: `fts` (PostgreSQL full-text search over code and split identifiers, maintained by the database), `vector`
  (cosine distance of mean-pooled encoder states, pgvector), or `hybrid` (reciprocal rank fusion of the two, constant
  60, at most 2 hits per file — Tabby's code search). The default is `fts`, by measurement (bench/bench_retrieval.py).
* `embeddings.update_embeddings(conn, ...)` — embeds only the chunks that have no embedding for the current encoder
  (`rxt5 index`); `retrieve` calls it lazily for the repo it searches.
* `prompt.with_context(prompt_text, language, retrieved)` — the one prompt format of retrieval-augmented input, used at
  generation and for training examples (`augment.augment_examples`).

Nothing heavy is imported here: torch and transformers load only when embeddings are computed.
"""
