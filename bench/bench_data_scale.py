"""The data stage at scale: peak RSS and time of a full run and of an incremental one, at 50k / 200k / 1M chunks.

Corpus: the real code of this machine — Debian's crate registry (/usr/share/cargo/registry, one repo per crate) and the
Elixir sources (/work/corpus/elixir-1.14.0/lib, one repo per app; else the demo corpus) — ingested once with `rxt5
ingest`'s own code, then replicated in SQL-free Python under repo names `<repo>~r<k>` until the table holds N rows.
Replica k > 0 renames identifiers: every word of 4+ characters that is neither a keyword nor a word the language modules
look for (every identifier in rust.py / elixir.py / _ts.py) gets the suffix `Q<k>`, so each replica's chunks have their
own content hash (the analysis cache misses them), differ in most byte 8-grams (near-duplicate removal keeps them), and
keep their syntax, patterns and quality indicators (the pass rate stays the real corpus').

    .venv/bin/python bench/bench_data_scale.py --sizes 50000 200000 [--home /tmp/rxt5-data-scale] [--new 1000]

Each measurement runs in a fresh process (peak RSS = that process's ru_maxrss): `full` analyses every chunk (empty
cache), `incremental` adds --new chunks of a fresh replica and reruns with the cache of the full run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REGISTRY = Path("/usr/share/cargo/registry")
ELIXIR = Path("/work/corpus/elixir-1.14.0/lib")
PROJECT = Path(__file__).resolve().parents[1]

_KEYWORDS = set("""
as async await break const continue crate dyn else enum extern false for impl in let loop match mod move mut pub ref
return self Self static struct super trait true type unsafe use where while abstract become box final macro override
priv typeof unsized virtual yield try union
after alias and case catch cond def defdelegate defexception defguard defguardp defimpl defmacro defmacrop defmodule
defoverridable defp defprotocol defstruct do else end fn for if import in nil not or quote raise receive require rescue
reraise super throw true false try unless unquote unquote_splicing use when with moduledoc typedoc spec type typep
opaque callback macrocallback impl behaviour derive enforce_keys doc test describe setup assert refute
""".split())


def protected_words() -> set[str]:
    words = set(_KEYWORDS)
    for name in ("rust.py", "elixir.py", "_ts.py", "__init__.py"):
        words |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", (PROJECT / "rxt5_assets" / "languages" / name).read_text()))
    return words


_WORD = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{3,}\b")


def renamer(replica: int, protected: set[str]):
    suffix = f"Q{replica}"

    def rename(match: re.Match) -> str:
        word = match.group(0)
        return word if word in protected else word + suffix

    return lambda text: text if replica == 0 or text is None else _WORD.sub(rename, text)


def database_for(home: Path, name: str):
    from rxt5_assets.db import Database
    from rxt5_assets.db.connection import embedded_server, ensure_database

    server = embedded_server(home)
    ensure_database(server, name)
    return Database(server.get_uri(name), home=home)


def ingest_base(home: Path) -> "Database":
    """The real corpus, ingested once (database `scale_base`)."""
    from rxt5_assets.ingest import DEMO_CORPUS, ingest_path

    database = database_for(home, "scale_base")
    database.migrate()
    with database.connect() as conn:
        if conn.execute("select count(*) from code_chunks").fetchone()[0]:
            return database
    roots = [p for p in sorted(REGISTRY.glob("*")) if p.is_dir()] if REGISTRY.exists() else []
    roots += [p for p in sorted(ELIXIR.glob("*")) if p.is_dir()] if ELIXIR.exists() else []
    if not roots:
        roots = sorted(p for p in DEMO_CORPUS.glob("*/*") if p.is_dir())
    for root in roots:
        ingest_path(database, root, root.name, progress=False)
    return database


_COLUMNS = ("content", "language", "file_path", "repo", "item_kind", "item_name", "start_line", "end_line")


def copy_replicas(base, target, rows_wanted: int, first_replica: int = 0) -> int:
    """Rows of `base` replicated (replica k renamed) into `target` until it holds `rows_wanted` more rows; returns the
    next replica number."""
    protected = protected_words()
    with base.connect() as source:
        rows = source.execute(f"select {', '.join(_COLUMNS)} from code_chunks order by id").fetchall()
    replica, written = first_replica, 0
    with target.connect() as conn:
        while written < rows_wanted:
            rename = renamer(replica, protected)
            with conn.cursor().copy(f"copy code_chunks ({', '.join(_COLUMNS)}) from stdin") as copy:
                for content, language, file_path, repo, kind, name, start, end in rows[: rows_wanted - written]:
                    copy.write_row((rename(content), language, file_path, f"{repo}~r{replica}", kind, rename(name),
                                    start, end))
            written += min(len(rows), rows_wanted - written)
            conn.commit()
            replica += 1
    return replica


def prepare_size(home: Path, size: int, prefix: str = "scale") -> None:
    base = ingest_base(home)
    target = database_for(home, f"{prefix}_{size}")
    target.migrate()
    with target.connect() as conn:
        have = conn.execute("select count(*) from code_chunks").fetchone()[0]
    if have < size:
        copy_replicas(base, target, size - have)


def _peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure(home: Path, size: int, mode: str, new: int, workers: int, batch_size: int, prefix: str = "scale") -> dict:
    """One data-stage run in this process (called in a fresh subprocess by main)."""
    from rxt5_assets.data.stages import PrepareConfig, StageFiles, run_data_stage

    database = database_for(home, f"{prefix}_{size}")
    database.migrate()
    folder = "" if prefix == "scale" else f"{prefix}-"
    full_session = home / "work" / f"{folder}{size}-full" / "session.json"
    with database.connect() as conn:  # the rows an earlier incremental run added go: each run sees N (+ new) rows
        if mode == "incremental" and full_session.exists():
            # earlier runs' sessions are not what is measured; the full run's is the one a retrain follows (its
            # examples are linked, not stored again, while it exists)
            conn.execute("delete from t5_training_sessions where id::text <> %s",
                         (json.loads(full_session.read_text())["session_id"],))
        else:
            conn.execute("truncate t5_training_sessions cascade")
        conn.execute(r"delete from code_chunks where repo ~ '~r1[0-9]{4}$'")
        if mode == "full":  # an empty analysis cache: every chunk is analysed
            conn.execute("truncate chunk_analyses")
            # and no example stored yet (migration 7: contents outlive the sessions that linked them; a retrain
            # finds the full run's)
            if conn.execute("select to_regclass('t5_example_contents') is not null").fetchone()[0]:
                conn.execute("truncate t5_example_contents cascade")
    if mode == "incremental":
        base = ingest_base(home)
        copy_replicas(base, database, new, first_replica=10_000 + int(time.time()) % 10_000)
    timings, peaks = {}, {}  # peaks: ru_maxrss after each stage (it only grows: the stage where it rises set it)
    started = time.perf_counter()
    config = PrepareConfig(workers=workers, batch_size=batch_size, min_examples=1)
    work = home / "work" / f"{folder}{size}-{mode}"
    # the incremental run carries the full run's folder, as a retrain carries the latest materialization
    previous = StageFiles(home / "work" / f"{folder}{size}-full") if mode == "incremental" else None
    with database.connect() as conn:
        manifest = run_data_stage(conn, StageFiles(work), work / "dataset", config, previous=previous,
                                  on_stage=lambda name, seconds: (timings.__setitem__(name, round(seconds, 2)),
                                                                  peaks.__setitem__(name, _peak_mb())))
    seconds = time.perf_counter() - started
    with database.connect() as conn:
        rows = conn.execute("select count(*) from code_chunks").fetchone()[0]
    return {"size": size, "rows": rows, "mode": mode, "seconds": round(seconds, 1), "stages": timings,
            "peak_rss_mb": _peak_mb(), "peak_rss_mb_after": peaks,
            "train_examples": manifest["train_examples"], "eval_examples": manifest["eval_examples"],
            "analysed": manifest.get("analysed"), "carried": manifest.get("carried"),
            "parts_carried": manifest.get("parts_carried"), "parts_scored": manifest.get("parts_scored"),
            "example_parts_carried": manifest.get("example_parts_carried"),
            "pair_examples_carried": manifest.get("pair_examples_carried"),
            "store_seconds": manifest.get("store_seconds"),
            "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--home", type=Path, default=Path("/tmp/rxt5-data-scale"))
    parser.add_argument("--new", type=int, default=1000, help="chunks added before the incremental run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--modes", nargs="+", default=["full", "incremental"], choices=["full", "incremental"])
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--prefix", default="scale",
                        help="database name prefix (<prefix>_<size>) and work folder prefix: A/B runs of two checkouts "
                             "on one server keep their own databases and folders")
    parser.add_argument("--measure", nargs=2, metavar=("SIZE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["RXT5_HOME"] = str(args.home)
    if args.measure:
        print(json.dumps(measure(args.home, int(args.measure[0]), args.measure[1], args.new, args.workers,
                                 args.batch_size, args.prefix)))
        return
    for size in args.sizes:
        started = time.perf_counter()
        prepare_size(args.home, size, args.prefix)
        print(f"# prepared {args.prefix}_{size} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    if args.prepare_only:
        return
    results = []
    for size in args.sizes:
        for mode in args.modes:
            out = subprocess.run([sys.executable, __file__, "--home", str(args.home), "--new", str(args.new),
                                  "--workers", str(args.workers), "--batch-size", str(args.batch_size),
                                  "--prefix", args.prefix, "--measure", str(size), mode], capture_output=True, text=True,
                                 env=os.environ)
            if out.returncode:
                print(out.stderr[-3000:], file=sys.stderr)
                raise SystemExit(out.returncode)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            print(json.dumps(result), flush=True)
    print("\n| chunks | run | seconds | peak RSS MB | stages (s) | examples stored (s) | load |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        stored = " + ".join(str(v) for v in (r.get("store_seconds") or {}).values())
        print(f"| {r['rows']:,} | {r['mode']} | {r['seconds']} | {r['peak_rss_mb']:,} | "
              f"{' / '.join(str(v) for v in r['stages'].values())} | {stored} | {r['load']:.1f} |")


if __name__ == "__main__":
    main()
