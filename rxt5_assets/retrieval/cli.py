"""`rxt5 index`: bring the embeddings of code_chunks up to date (and `rxt5 retrieve`: try a query)."""

from __future__ import annotations

import argparse
import json
import sys


def cmd_index(args: argparse.Namespace) -> int:
    from rxt5_assets.db import Database
    from rxt5_assets.retrieval.embeddings import update_embeddings

    database = Database(home=args.home)
    with database.connect() as conn:
        report = update_embeddings(conn, repo=args.repo, language=args.language, model=args.model,
                                   models_dir=args.models_dir or database.home / "models",
                                   batch_size=args.batch_size, progress=None if not args.quiet else False)
        conn.commit()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.summary(), file=sys.stdout if report.pgvector else sys.stderr)
    return 0 if report.pgvector else 1


def cmd_retrieve(args: argparse.Namespace) -> int:
    from rxt5_assets.db import Database
    from rxt5_assets.retrieval.search import retrieve

    with Database(home=args.home).connect() as conn:
        hits = retrieve(conn, args.query, repo=args.repo, language=args.language, k=args.k, method=args.method,
                        include_tests=args.include_tests)
        conn.commit()
    if args.json:
        print(json.dumps([hit.as_dict() for hit in hits], indent=2))
        return 0
    for rank, hit in enumerate(hits, start=1):
        print(f"{rank}. {hit.file_path}:{hit.start_line}  {hit.name or '(unnamed)'} [{hit.kind}]  "
              f"{hit.method} {hit.score:.4f}")
    return 0


def add_retrieval_commands(commands) -> None:
    index = commands.add_parser(
        "index", help="compute the embeddings chunks lack (incremental; full-text search needs no indexing)",
        description=(
            "Embed every chunk of code_chunks (or of --repo / --language) that has no embedding of the current encoder "
            "for its current content, in batches, each committed: a re-run after new chunks land embeds only those. "
            "Embeddings are mean-pooled encoder states of --model (default: the shipped demo base), stored in "
            "code_chunk_embeddings (pgvector) with the encoder's fingerprint. Full-text search is maintained by the "
            "database itself. Exit status 1 when the server has no pgvector (retrieval then uses full-text search)."
        ),
    )
    index.add_argument("--repo", help="only this repo's chunks (default: every repo)")
    index.add_argument("--language", help="only this language's chunks")
    index.add_argument("--model", default="demo", help="encoder: 'demo' or any base `rxt5 train --base-model` takes")
    index.add_argument("--models-dir", default=None, help="where 'tiny' bases live (default: $RXT5_HOME/models)")
    index.add_argument("--batch-size", type=int, default=32, help="chunks per encoder batch and commit")
    index.add_argument("--quiet", action="store_true", help="no progress bar")
    index.add_argument("--json", action="store_true", help="print the report as JSON")
    index.set_defaults(func=cmd_index)

    search = commands.add_parser(
        "retrieve", help="the chunks of a repo that best match a query (what generation with --rag gets)",
        description="Retrieve from one repo's chunks: fts (full-text), vector (embeddings) or hybrid (both, fused).",
    )
    search.add_argument("query", help="what you would ask the generator for, e.g. 'a cache with a TTL'")
    search.add_argument("--repo", required=True, help="the repo whose chunks are searched")
    search.add_argument("--language", required=True, choices=("rust", "elixir"), help="the language of the chunks")
    search.add_argument("-k", type=int, default=3, help="hits returned (default: %(default)s)")
    search.add_argument("--method", default="fts", choices=("fts", "vector", "hybrid"),
                        help="retriever (default: %(default)s)")
    search.add_argument("--include-tests", action="store_true", help="also return test code (left out by default)")
    search.add_argument("--json", action="store_true", help="print the hits as JSON (content included)")
    search.set_defaults(func=cmd_retrieve)
