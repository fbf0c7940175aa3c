"""Ingestion throughput, side by side in one process, on one core.

    floor     read every file + bare tree-sitter parse (no chunking, no database)
    rxt5      `ingest_path`: walk, read, chunk items with docs/attributes, COPY into staging, INSERT … ON CONFLICT
    baseline  the same chunks inserted the naive way: one INSERT … ON CONFLICT per row, a commit per file

Corpus: --corpus PATH, else Debian's crate sources in /usr/share/cargo/registry when present (real code:
`apt-get install librust-serde-dev librust-tokio-dev librust-regex-dev librust-clap-dev librust-anyhow-dev`), else the
shipped demo corpus. Target (issue 2): rxt5 ≥ 2 MB/s.

    .venv/bin/python bench/bench_ingest.py [--corpus PATH] [--max-mb 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def pick_corpus(explicit: str | None, max_mb: float, scratch: Path) -> Path:
    """A folder of at most `max_mb` of .rs/.ex/.exs sources (a copy, so every variant ingests the same bytes)."""
    from rxt5_assets.ingest import DEMO_CORPUS

    source = Path(explicit) if explicit else Path("/usr/share/cargo/registry")
    if not source.exists():
        source = DEMO_CORPUS
    target, budget = scratch / "corpus", max_mb * 1e6
    for path in sorted(source.rglob("*")):
        if budget <= 0:
            break
        if path.suffix in (".rs", ".ex", ".exs") and path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            if size > 1_000_000:
                continue
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
            budget -= size
    print(f"corpus: {source} → {target} ({(max_mb * 1e6 - budget) / 1e6:.1f} MB)")
    return target


def floor(corpus: Path) -> tuple[float, int]:
    import tree_sitter
    import tree_sitter_elixir
    import tree_sitter_rust

    rust = tree_sitter.Parser(tree_sitter.Language(tree_sitter_rust.language()))
    elixir = tree_sitter.Parser(tree_sitter.Language(tree_sitter_elixir.language()))
    parsers = {".rs": rust, ".ex": elixir, ".exs": elixir}
    started, total = time.perf_counter(), 0
    for path in sorted(corpus.rglob("*")):
        parser = parsers.get(path.suffix)
        if parser is None or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\x00" in data:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        parser.parse(data)
        total += len(data)
    return time.perf_counter() - started, total


def naive_insert(database, corpus: Path) -> tuple[float, int]:
    """The baseline: rxt5's own walk and chunker, then row-by-row INSERTs."""
    from rxt5_assets.ingest import IngestReport, chunk_rows, find_source_files, read_source

    started = time.perf_counter()
    report = IngestReport(root=str(corpus), repo="naive")
    total = 0
    with database.connect() as conn:
        for source in find_source_files(corpus, report):
            text, reason = read_source(source)
            if reason:
                continue
            for row in chunk_rows(source, text, "naive", report):
                conn.execute(
                    "insert into code_chunks (content, language, file_path, repo, item_kind, item_name, start_line, "
                    "end_line) values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing", row)
            conn.commit()
            total += source.size
    return time.perf_counter() - started, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus")
    parser.add_argument("--max-mb", type=float, default=20.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says

    from rxt5_assets.db import Database
    from rxt5_assets.ingest import ingest_path

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        corpus = pick_corpus(args.corpus, args.max_mb, scratch)
        database = Database(home=scratch / "home")
        database.migrate()

        floor_seconds, floor_bytes = floor(corpus)
        report = ingest_path(database, corpus, "rxt5", progress=False)
        naive_seconds, naive_bytes = naive_insert(database, corpus)
        again = ingest_path(database, corpus, "rxt5", progress=False)

        rows = [
            ("floor: read + bare tree-sitter parse", floor_bytes / floor_seconds / 1e6, floor_seconds),
            ("rxt5 ingest (chunk + COPY)", report.bytes_ingested / report.seconds / 1e6, report.seconds),
            ("baseline: row-by-row INSERT", naive_bytes / naive_seconds / 1e6, naive_seconds),
            ("rxt5 re-ingest (all duplicates)", again.bytes_ingested / again.seconds / 1e6, again.seconds),
        ]
        print(f"\n{report.chunks_new} chunks from {report.files_ingested} files "
              f"({report.bytes_ingested / 1e6:.1f} MB); skipped {dict(report.skipped_files)}")
        print(f"{'variant':<40} {'MB/s':>8} {'seconds':>9}")
        for name, rate, seconds in rows:
            print(f"{name:<40} {rate:>8.2f} {seconds:>9.2f}")
        print(f"\nrxt5 vs row-by-row INSERT: {rows[1][1] / rows[2][1]:.2f}x faster")
        print(f"rxt5 vs the parse floor:   {rows[0][1] / rows[1][1]:.2f}x slower")


if __name__ == "__main__":
    main()
