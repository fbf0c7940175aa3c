"""Continuous learning: does a retrain that continues the served adapter keep the old repos' quality, and is it
better than starting fresh from the base?

    python bench/bench_continual.py [--home bench/results/continual] [--rows 0]

On the demo corpus (the quick start's data stage; the split is by file, so every model is scored on the same held-out
files), the sensor's situation is replayed:
  v1        the first version, trained on the train rows of the repos ingested first (edge-gateway, job-runner in both
            languages) with the demo defaults;
  fresh     the retrain after the rest lands (ledger-core, billing_service): every train row, from the bare base;
  continue  the same retrain started from v1's adapter (TrainConfig.init_adapter), same epochs;
  continue-1ep  the same with one epoch (a cheaper retrain).
Scored: eval loss (the trainer's grouped pass) on the eval rows of the old repos and of the new ones, per language,
and greedy chrF / strict validity of `implement`/`generate` rows; training seconds. The machine's load is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

OLD_REPOS = {"edge-gateway", "job-runner", "edge_gateway", "job_runner"}


def _is_old(row: dict) -> bool:
    # every row names one repo (a cross-language row: its target's)
    return row.get("repo") in OLD_REPOS


def main(argv: list[str] | None = None) -> int:
    from bench_demo_quality import eval_loss_by_language, evaluate_systems, item_rows, prepare_demo_dataset, train_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=str(REPO / "bench" / "results" / "continual"))
    parser.add_argument("--rows", type=int, default=0, help="implement/generate rows per language (0: all)")
    parser.add_argument("--k", type=int, default=1, help="best-of-k for the generation columns (1: greedy only)")
    args = parser.parse_args(argv)
    import torch

    from rxt5_assets.training.data import read_jsonl
    from rxt5_assets.training.generate import load_trained
    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.trainer import train

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    home = Path(args.home)
    manifest = prepare_demo_dataset(home)
    train_rows = [json.loads(line) for line in Path(manifest["train_file"]).read_text().splitlines() if line.strip()]
    old_train = home / "old_train.jsonl"
    old_train.write_text("".join(json.dumps(r) + "\n" for r in train_rows if _is_old(r)))
    eval_rows = [json.loads(line) for line in Path(manifest["eval_file"]).read_text().splitlines() if line.strip()]
    splits = {}
    for name, keep in (("old", _is_old), ("new", lambda r: not _is_old(r))):
        path = home / f"eval_{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in eval_rows if keep(r)))
        splits[name] = path
    print(f"train rows: old repos {sum(map(_is_old, train_rows))}, all {len(train_rows)}; eval rows: "
          f"old {sum(map(_is_old, eval_rows))}, new {len(eval_rows) - sum(map(_is_old, eval_rows))}; load "
          f"{os.getloadavg()[0]:.1f}", flush=True)

    trained: dict[str, tuple[Path, float]] = {}

    def run(name: str, train_file: Path, **overrides) -> Path:
        adapter = home / "runs" / name / "adapter"
        if not adapter.is_dir():
            config = train_config({**manifest, "train_file": str(train_file)}, home, name, **overrides)
            started = time.perf_counter()
            result = train(config)
            trained[name] = (result.adapter_dir, time.perf_counter() - started)
            print(f"{name}: {result.global_step} steps in {trained[name][1]:.0f} s", flush=True)
        else:
            seconds = json.loads((adapter / "rxt5_training.json").read_text()).get("train_seconds", float("nan"))
            trained[name] = (adapter, float(seconds))
        return trained[name][0]

    v1 = run("v1", old_train)
    run("fresh", Path(manifest["train_file"]))
    run("continue", Path(manifest["train_file"]), init_adapter=v1)
    run("continue-1ep", Path(manifest["train_file"]), init_adapter=v1, epochs=1.0)

    models = {"base": load_base_model("demo", models_dir=home / "models")}
    for name, (adapter, _) in trained.items():
        models[name] = load_trained(adapter, home / "models")
    losses: dict[str, dict[str, dict]] = {}
    for split, path in splits.items():
        examples = read_jsonl(path)
        for label, (model, tokenizer) in models.items():
            losses.setdefault(split, {})[label] = eval_loss_by_language(model, tokenizer, examples)
    quality = {}
    for split, path in splits.items():
        rows = item_rows(read_jsonl(path), args.rows or None)
        quality[split] = evaluate_systems(rows, models, k=args.k)

    labels = list(models)
    print("\n| eval rows of | language | metric | " + " | ".join(labels) + " |")
    print("|---|---|---|" + "---:|" * len(labels))
    for split in splits:
        for language in ("rust", "elixir"):
            print(f"| {split} repos | {language} | eval loss | "
                  + " | ".join(str(losses[split][label].get(language, "—")) for label in labels) + " |")
            for key, metric in (("chrf@greedy", "chrF greedy"), ("strict_validity@greedy", "strict-valid greedy %")):
                cells = []
                for label in labels:
                    value = quality[split][label]["scores"]["by_language"].get(language, {}).get(key)
                    cells.append("—" if value is None else str(round(value * (100 if "strict" in key else 1), 1)))
                print(f"| {split} repos | {language} | {metric} | " + " | ".join(cells) + " |")
    print("| | | training seconds | — | " + " | ".join(
        "—" if trained[label][1] != trained[label][1] else f"{trained[label][1]:.0f}" for label in labels[1:]) + " |")
    (home / "results.json").write_text(json.dumps({"losses": losses, "seconds": {k: v[1] for k, v in trained.items()},
                                                   "quality": {s: {l: q["scores"] for l, q in d.items()}
                                                               for s, d in quality.items()}}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
