"""Which retriever finds the code a user means? Full-text vs pgvector embeddings vs hybrid (RRF), on the demo corpus.

    python bench/bench_retrieval.py [--threads 1] [--json out.json]

Pairs: every demo chunk whose item has a doc comment (≥ 3 words in its first paragraph, test modules left out) gives
one query — the first paragraph of its doc, what a user would type — and one target: the item's chunk and its file.
Three situations, each per language and retriever (fts, vector, hybrid — test code left out, as `retrieve` does by
default — and fts with test code kept), k = 1 / 3 / 5:

* **in index**: the repo's code is indexed as ingested, the item itself included (production: the code is there).
  recall@k of the item (its chunk among the top k) and of its file (any top-k chunk from its file).
* **doc stripped**: the same, but the target chunks are indexed without their own doc comment (a copy of each repo
  whose documented chunks are `code_without_docs`): how well each retriever matches a description to code that does
  not repeat the description's words.
* **item excluded**: the item's own chunk excluded; success = another chunk of its file in the top k — the context the
  model gets when it writes a new item of that file (queries of files with a single chunk are left out).

Latency: wall time of one `retrieve` call (k = 5) per query, warm (embeddings already computed), mean / p50 / p95; the
vector and hybrid times include embedding the query. The machine's load is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# (label, method, include_tests): the retrievers compared, and fts with test code left in (retrieve leaves it out)
RETRIEVERS = (("fts", "fts", False), ("fts, tests kept", "fts", True), ("vector", "vector", False),
              ("hybrid", "hybrid", False))
METHODS = tuple(label for label, _, _ in RETRIEVERS)
KS = (1, 3, 5)
NODOC_SUFFIX = "~nodoc"


def build_index(home: Path):
    from rxt5_assets.db import Database
    from rxt5_assets.ingest import ingest_demo

    database = Database(home=home)
    database.migrate()
    report = ingest_demo(database, progress=False)
    return database, report


def doc_pairs(conn) -> list[dict]:
    """(query, chunk) pairs of the documented demo items, and the doc-stripped copy of every repo."""
    from rxt5_assets import languages
    from rxt5_assets.data.examples import first_paragraph

    rows = conn.execute("""select id, repo, language, file_path, item_kind, item_name, content, start_line, end_line
                           from code_chunks where repo not like %s order by id""", (f"%{NODOC_SUFFIX}",)).fetchall()
    pairs, copies = [], []
    for chunk_id, repo, language, file_path, kind, name, content, start, end in rows:
        analysis = languages.get(language).analyze(content)
        description = first_paragraph(analysis.doc) if analysis.doc else ""
        stripped = analysis.code_without_docs.strip() if description else ""
        copies.append((stripped or content, language, file_path, repo + NODOC_SUFFIX, kind, name, start, end))
        if len(description.split()) >= 3 and kind != "test_module" and "test" not in file_path.split("/")[0]:
            pairs.append({"chunk_id": chunk_id, "repo": repo, "language": language, "file_path": file_path,
                          "name": name, "query": description, "start_line": start})
    exists = conn.execute("select count(*) from code_chunks where repo like %s", (f"%{NODOC_SUFFIX}",)).fetchone()[0]
    if not exists:
        with conn.cursor() as cursor:
            cursor.executemany("""insert into code_chunks (content, language, file_path, repo, item_kind, item_name,
                                  start_line, end_line) values (%s, %s, %s, %s, %s, %s, %s, %s)
                                  on conflict do nothing""", copies)
        conn.commit()
    copy_ids = {(repo, file_path, start): cid for cid, repo, file_path, start in conn.execute(
        "select id, repo, file_path, start_line from code_chunks where repo like %s", (f"%{NODOC_SUFFIX}",))}
    for pair in pairs:
        pair["nodoc_chunk_id"] = copy_ids.get((pair["repo"] + NODOC_SUFFIX, pair["file_path"], pair["start_line"]))
    return pairs


def run(conn, pairs: list[dict], encoder) -> dict:
    from rxt5_assets.retrieval.search import retrieve

    chunks_per_file = {(repo, path): n for repo, path, n in conn.execute(
        "select repo, file_path, count(*) from code_chunks group by 1, 2")}
    hits = defaultdict(lambda: defaultdict(list))  # (situation, method, language) -> metric -> [0/1]
    latency = defaultdict(list)
    for pair in pairs:
        for method, retriever, include_tests in RETRIEVERS:
            common = dict(language=pair["language"], k=max(KS), method=retriever, encoder=encoder,
                          include_tests=include_tests)
            started = time.perf_counter()
            found = retrieve(conn, pair["query"], repo=pair["repo"], **common)
            latency[method].append(time.perf_counter() - started)
            situations = [("in index", found, pair["chunk_id"], pair["repo"])]
            if pair["nodoc_chunk_id"] is not None:
                situations.append(("doc stripped", retrieve(conn, pair["query"], repo=pair["repo"] + NODOC_SUFFIX,
                                                            **common), pair["nodoc_chunk_id"], pair["repo"] + NODOC_SUFFIX))
            for situation, result, target, _ in situations:
                bucket = hits[(situation, method, pair["language"])]
                for k in KS:
                    bucket[f"item@{k}"].append(int(target in {h.chunk_id for h in result[:k]}))
                    bucket[f"file@{k}"].append(int(pair["file_path"] in {h.file_path for h in result[:k]}))
            if chunks_per_file[(pair["repo"], pair["file_path"])] > 1:
                result = retrieve(conn, pair["query"], repo=pair["repo"], exclude_chunk_ids=[pair["chunk_id"]],
                                  **common)
                bucket = hits[("item excluded", method, pair["language"])]
                for k in KS:
                    bucket[f"file@{k}"].append(int(pair["file_path"] in {h.file_path for h in result[:k]}))
    table = {}
    for (situation, method, language), metrics in hits.items():
        table.setdefault(situation, {}).setdefault(language, {})[method] = {
            "queries": len(next(iter(metrics.values()))),
            **{name: round(100 * sum(v) / len(v), 1) for name, v in metrics.items()}}
    timing = {method: {"mean_ms": round(1000 * statistics.fmean(v), 2),
                       "p50_ms": round(1000 * statistics.median(v), 2),
                       "p95_ms": round(1000 * sorted(v)[int(0.95 * (len(v) - 1))], 2)} for method, v in latency.items()}
    return {"recall": table, "latency": timing}


def print_tables(result: dict) -> None:
    for situation, by_language in result["recall"].items():
        columns = [f"item@{k}" for k in KS] * (situation != "item excluded") + [f"file@{k}" for k in KS]
        print(f"\n**{situation}** (recall %)\n")
        print("| language (queries) | retriever | " + " | ".join(columns) + " |")
        print("|---|---|" + "---:|" * len(columns))
        for language in sorted(by_language):
            for method in METHODS:
                cell = by_language[language].get(method)
                if cell:
                    print(f"| {language} ({cell['queries']}) | {method} | "
                          + " | ".join(str(cell[c]) for c in columns) + " |")
    print("\n| retriever | mean ms | p50 ms | p95 ms |\n|---|---:|---:|---:|")
    for method in METHODS:
        t = result["latency"][method]
        print(f"| {method} | {t['mean_ms']} | {t['p50_ms']} | {t['p95_ms']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=str(REPO / "bench" / "results" / "retrieval"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the encoder")
    parser.add_argument("--encoder", default="demo", help="embedding model (any base `rxt5 train` takes)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from rxt5_assets.retrieval.embeddings import get_encoder, update_embeddings

    home = Path(args.home)
    database, report = build_index(home)
    encoder = get_encoder(args.encoder, models_dir=home / "models")
    with database.connect() as conn:
        pairs = doc_pairs(conn)
        started = time.perf_counter()
        index = update_embeddings(conn, encoder=encoder)
        conn.commit()
        print(f"demo corpus: {report.chunks_new + report.chunks_duplicate} chunks; {len(pairs)} doc → item pairs; "
              f"embeddings: {index.embedded} computed in {time.perf_counter() - started:.1f} s "
              f"({encoder.fingerprint}, {args.threads} thread(s)); load {os.getloadavg()[0]:.2f}")
        result = run(conn, pairs, encoder)
    result["pairs"] = len(pairs)
    result["load"] = os.getloadavg()[0]
    print_tables(result)
    print(f"\nload at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
