"""Measure the language layer side by side with a bare tree-sitter parse (not a pytest module).

    .venv/bin/python bench/bench_analyze.py [DIR ...]

For each language: chunk() throughput in MB/s over the files, and the cost of analyze() + quality_indicators() over the
chunks relative to a bare ``parser.parse()`` of the same chunks (interleaved batches, best of N, CPU time of this process
on one core). Default corpus: the shipped demo corpus, plus /usr/share/cargo/registry when present.

Wall-clock ratios on a busy 2-core VM swing by +-0.2; for a deterministic figure count instructions instead, e.g.
``valgrind --tool=callgrind`` over a script that parses the chunks vs one that analyzes them (minus a run doing neither).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import tree_sitter as ts

from rxt5_assets import languages

REPO = Path(__file__).resolve().parents[1]


def _files(dirs: list[Path], lang) -> list[bytes]:
    out = []
    for d in dirs:
        if not d.exists():
            continue
        for ext in lang.extensions:
            for p in sorted(d.rglob(f"*{ext}")):
                try:
                    data = p.read_bytes()
                    data.decode("utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                out.append(data)
    return out


def _best(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def bench(lang, files: list[bytes], reps: int = 7, max_bytes: int = 6_000_000) -> dict:
    picked, total = [], 0
    for f in files:
        if total > max_bytes:
            break
        picked.append(f)
        total += len(f)
    module = sys.modules[type(lang).__module__]  # the language's own grammar object
    parser = ts.Parser(module._POOL.language)

    chunk_t = _best(lambda: [lang.chunk(f) for f in picked], max(1, reps // 2))
    chunks = [item.text for f in picked for item in lang.chunk(f)]
    chunk_bytes = sum(len(c.encode()) for c in chunks)

    # Fine-grained interleaving: per batch of chunks, the best of `reps` runs of each side; a burst of load from other
    # processes then spoils single batch runs, not a whole side.
    batches = [chunks[i : i + 50] for i in range(0, len(chunks), 50)]
    parse_best = [float("inf")] * len(batches)
    analyze_best = [float("inf")] * len(batches)
    clock = time.process_time
    for _ in range(reps):
        for j, batch in enumerate(batches):
            t0 = clock()
            for c in batch:
                parser.parse(c.encode("utf-8"))
            t1 = clock()
            for c in batch:
                lang.quality_indicators(lang.analyze(c))
            t2 = clock()
            parse_best[j] = min(parse_best[j], t1 - t0)
            analyze_best[j] = min(analyze_best[j], t2 - t1)
    parse_t, analyze_t = sum(parse_best), sum(analyze_best)
    return {
        "language": lang.name,
        "files": len(picked),
        "file_mb": total / 1e6,
        "chunk_mb_s": total / 1e6 / chunk_t,
        "chunks": len(chunks),
        "avg_chunk_bytes": chunk_bytes / max(1, len(chunks)),
        "parse_s": parse_t,
        "analyze_s": analyze_t,
        "ratio": analyze_t / parse_t if parse_t else float("nan"),
    }


def main(argv: list[str]) -> None:
    dirs = [Path(a) for a in argv] or [REPO / "rxt5_assets" / "demo_corpus", Path("/usr/share/cargo/registry")]
    for lang in languages.all_languages():
        files = _files(dirs, lang)
        if not files:
            print(f"{lang.name}: no files under {', '.join(map(str, dirs))}")
            continue
        r = bench(lang, files)
        print(
            f"{r['language']:>7}: {r['files']} files {r['file_mb']:.2f} MB | chunk() {r['chunk_mb_s']:.1f} MB/s | "
            f"{r['chunks']} chunks avg {r['avg_chunk_bytes']:.0f} B | parse {r['parse_s']:.3f}s "
            f"analyze+indicators {r['analyze_s']:.3f}s | ratio {r['ratio']:.2f}x"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
