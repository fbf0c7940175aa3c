"""What the engine returns per quality level on a fixed set of prompts (not a pytest module).

    .venv/bin/python bench/bench_generation_quality.py [--home DIR] [--backend transformers] [--show 2]
        [--levels draft,standard,production] [--threads 1]

Deploys the shipped demo base in a fresh home (or uses --home's active version), then asks GeneratorEngine for each
prompt below at each level (seed fixed). Per language and level: the share of results whose best candidate is a
strict-valid item of the requested kind, the mean quality score of the best candidate, the share flagged low-quality
(at production: refused), distinct candidates, and the mean seconds per request. `--show N` prints the best candidate
of the first N prompts per language at the first level.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROMPTS = {
    "rust": ["Returns the number of entries in the cache", "Parses a duration such as 5s or 10m",
             "An enum of the states a connection can be in", "A struct holding a cached value and its expiry time",
             "Removes every expired entry and returns how many were removed",
             "Returns the value stored under the key, if it has not expired"],
    "elixir": ["Create a GenServer for caching with TTL", "Returns the user with the given id",
               "Puts a value under a key with a time to live", "Parses a duration such as 5s or 10m",
               "A private helper that checks whether an entry has expired",
               "Deletes the entry stored under the key"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--levels", default="draft,standard,production")
    parser.add_argument("--show", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="rxt5-bench-gen-"))
    os.environ["RXT5_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from bench_serve_load import deploy_demo
    from rxt5_assets.generation.engine import GeneratorEngine

    torch.set_num_threads(args.threads)
    version = deploy_demo(home)
    engine = GeneratorEngine(home, backend=args.backend)
    levels = args.levels.split(",")
    rows, shown = [], []
    for level in levels:
        for language, prompts in PROMPTS.items():
            results = [engine.code_generate(p, language, quality=level, seed=i) for i, p in enumerate(prompts)]
            if level == levels[0]:
                shown += [(language, p, r) for p, r in list(zip(prompts, results))[:args.show]]
            scored = [r for r in results if r.candidates]
            rows.append((language, level, engine.params.get(language, level).num_candidates,
                         sum(bool(r.strict_valid) for r in scored) / len(prompts),
                         statistics.mean(r.quality_score for r in scored),
                         sum(r.low_quality for r in scored) / len(prompts),
                         sum(r.error is not None and r.error.code == "quality_below_threshold" for r in results)
                         / len(prompts),
                         statistics.mean(len(r.candidates) for r in scored),
                         statistics.mean(r.timings["total_s"] for r in results)))
    print(f"version {version}, backend {engine.loaded.backend.name}, {args.threads} torch thread(s), "
          f"load {open('/proc/loadavg').read().split()[:3]}\n")
    print("| language | level | k | best strict-valid | best quality (mean) | low-quality | refused | distinct "
          "candidates | s / request |\n|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for language, level, k, valid, quality, low, refused, distinct, seconds in rows:
        print(f"| {language} | {level} | {k} | {valid:.0%} | {quality:.3f} | {low:.0%} | {refused:.0%} | "
              f"{distinct:.1f} | {seconds:.2f} |")
    for language, prompt, result in shown:
        print(f"\n--- {language} · {level_of(levels)} · {prompt!r} → {result.kind}, strict-valid "
              f"{result.strict_valid}, quality {result.quality_score}\n{result.code}")
    return 0


def level_of(levels: list[str]) -> str:
    return levels[0]


if __name__ == "__main__":
    sys.exit(main())
