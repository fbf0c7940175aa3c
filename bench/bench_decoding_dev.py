"""Which decoding the evaluation and the service use, chosen on a dev split that is nobody's test set.

    python bench/bench_decoding_dev.py [--rows 60] [--work .rxt5-demo-base]

The dev split is the demo base's own held-out public files (scripts/build_demo_base.py `corpus` writes it to
<work>/dataset/eval.jsonl: crates and Elixir apps' files the base never trained on) — neither the org's eval split
(that is where the fine-tune is judged) nor anything a fine-tune trains on. On its implement/generate rows (a seeded
sample per language) the shipped base decodes with the evaluation runner's own `generate_candidates` under each
variant of `EvaluationSettings` (signature_prefix, doc_prefix, no_repeat_ngram_size; the rest as the gate uses them), and the
table gives greedy and best-of-k strict validity and chrF on `implement`, per language.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS = {
    "free": dict(signature_prefix=False, no_repeat_ngram_size=0),
    "no-repeat 4": dict(signature_prefix=False, no_repeat_ngram_size=4),
    "signature prefix": dict(signature_prefix=True, no_repeat_ngram_size=0),
    "signature prefix + no-repeat 4": dict(signature_prefix=True, no_repeat_ngram_size=4),
    "signature + doc prefix + no-repeat 4": dict(signature_prefix=True, doc_prefix=True, no_repeat_ngram_size=4),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(REPO / ".rxt5-demo-base"), help="build_demo_base.py's work folder")
    parser.add_argument("--rows", type=int, default=60, help="item rows per language")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS))
    parser.add_argument("--bases", nargs="*", default=["demo"],
                        help="bases compared side by side: `demo` (shipped) or built base folders (<work>/bases/...)")
    parser.add_argument("--backend", choices=("transformers", "ctranslate2"), default="transformers",
                        help="what decodes (ctranslate2: a converted fp32 copy per base, as the gate decodes)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from rxt5_assets.evaluation.runner import (EvaluationSettings, as_rows, best_of_k, ctranslate2_folder,
                                               generate_candidates, sample_rows)
    from rxt5_assets.evaluation.metrics import strict_valid
    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.data import read_jsonl
    from sacrebleu.metrics import CHRF

    dev_file = Path(args.work) / "dataset" / "eval.jsonl"
    if not dev_file.is_file():
        sys.exit(f"{dev_file} is missing: run `python scripts/build_demo_base.py corpus --elixir-src ...` first")
    rows = [r for r in as_rows(read_jsonl(dev_file)) if r.task in ("implement", "generate") and r.kind]
    picked = []
    for language in ("rust", "elixir"):
        picked.extend(sample_rows([r for r in rows if r.language == language], args.rows, 0))
    chrf = CHRF()
    print(f"dev rows: {len(picked)} ({args.rows} per language) from {dev_file}; load {os.getloadavg()[0]:.2f}")
    print("| base | decoding | Rust greedy | Rust best-of-%d | Rust chrF impl | Elixir greedy | Elixir best-of-%d | "
          "Elixir chrF impl | Rust chrF gen | Elixir chrF gen | s |" % (args.k, args.k))
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for base_name, name, overrides in [(b, n, o) for b in args.bases for n, o in VARIANTS.items()
                                       if not args.variants or n in args.variants]:
        model, tokenizer = load_base_model(base_name, models_dir=Path(args.work) / "models")[:2]
        settings = EvaluationSettings(max_rows=None, k=args.k, backend=args.backend, **overrides)
        started = time.perf_counter()
        inputs = [r.input for r in picked]
        if args.backend == "ctranslate2":
            with ctranslate2_folder(model, tokenizer, settings, Path(args.work) / "eval-scratch") as folder:
                generations = generate_candidates(model, tokenizer, inputs, settings, ct2_folder=folder)
        else:
            generations = generate_candidates(model, tokenizer, inputs, settings)
        _, best_valid = best_of_k(picked, generations.samples)
        cells, gen_scores = [], []
        for language in ("rust", "elixir"):
            idx = [i for i, r in enumerate(picked) if r.language == language]
            greedy = sum(strict_valid(generations.greedy[i], language, picked[i].kind) for i in idx)
            best = sum(bool(best_valid[i]) for i in idx)
            implement = [i for i in idx if picked[i].task == "implement"]
            score = chrf.corpus_score([generations.greedy[i] for i in implement],
                                      [[picked[i].target for i in implement]]).score
            cells += [f"{100 * greedy / len(idx):.0f} %", f"{100 * best / len(idx):.0f} %", f"{score:.1f}"]
            generate = [i for i in idx if picked[i].task == "generate"]
            gen_scores.append(chrf.corpus_score([generations.greedy[i] for i in generate],
                                                [[picked[i].target for i in generate]]).score)
        cells += [f"{score:.1f}" for score in gen_scores]
        print(f"| {Path(base_name).name} | {name} | " + " | ".join(cells) + f" | {time.perf_counter() - started:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
