"""Does the demo's fine-tune learn the org's code? Base alone vs base + adapter vs a template floor, side by side.

    python bench/bench_demo_quality.py [--rows 60] [--k 8] [--sweep]

On the demo corpus's eval split (files neither the shipped base nor the adapter trained on):
  1. the data stage runs on the demo corpus exactly as the quick start does (data_prep defaults), in its own home;
  2. the quick start's fine-tune trains on the train split with the lora_adapter defaults for the `demo` base, timed;
  3. the same rows and generation settings for every row of the table: eval loss per language (teacher-forced, the
     trainer's own loss), and on `implement`/`generate` rows (the tasks whose target is one whole item) strict item
     validity (the language module's `is_valid_item` of the requested kind) for greedy and for best-of-k sampled
     candidates filtered by it, and chrF (sacrebleu) of the greedy output, per language and per task.
`--sweep` trains the LoRA variants compared in the README (target modules, rank, learning rate, epochs) and prints eval
loss per language before/after each, with training time. Everything runs on the CPU; the machine's load is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ITEM_TASKS = ("implement", "generate")


def prepare_demo_dataset(home: Path) -> dict:
    """The quick start's data stage on the shipped demo corpus, in `home` (reused when already there)."""
    manifest_path = home / "datasets" / "rust_elixir_v1" / "manifest.json"
    if manifest_path.is_file():
        return json.loads(manifest_path.read_text())
    from rxt5_assets.data.parallel import default_workers
    from rxt5_assets.data.stages import PrepareConfig, StageFiles, dataset_stage, pairs_stage, preprocess_stage, scoring_stage
    from rxt5_assets.db import Database
    from rxt5_assets.ingest import ingest_demo

    database = Database(home=home)
    database.migrate()
    ingest_demo(database, progress=False)
    config = PrepareConfig(workers=default_workers())
    files = StageFiles(home / "data")
    with database.connect() as conn:
        for stage in (preprocess_stage, scoring_stage, pairs_stage):
            stage(conn, files, config)
            conn.commit()
        dataset_stage(conn, files, home / "datasets" / config.name, config)
        conn.commit()
    return json.loads(manifest_path.read_text())


def train_config(manifest: dict, home: Path, name: str, **overrides):
    from rxt5_assets.training.config import DEMO, TrainConfig, defaults_for_base

    settings = {**defaults_for_base(DEMO), **overrides}
    return TrainConfig(train_file=Path(manifest["train_file"]), eval_file=Path(manifest["eval_file"]),
                       output_dir=home / "runs" / name, models_dir=home / "models", base_model=DEMO, **settings)


def eval_loss_by_language(model, tokenizer, examples, batch_size: int = 32) -> dict[str, float]:
    """Token-weighted mean cross-entropy per language of the eval rows (and 'all')."""
    import torch

    from rxt5_assets.training.tiny import mean_loss

    pairs_by_language = defaultdict(list)
    for e in examples:
        src = tokenizer(e.input, max_length=320, truncation=True)["input_ids"]
        tgt = tokenizer(text_target=e.target, max_length=128, truncation=True)["input_ids"]
        group = "cross" if "->" in e.language else e.language
        pairs_by_language[group].append((src, tgt))
        pairs_by_language["all"].append((src, tgt))
    with torch.no_grad():
        return {group: round(mean_loss(model, pairs, batch_size=batch_size), 4)
                for group, pairs in sorted(pairs_by_language.items())}


def item_rows(examples, rows_per_language: int, seed: int = 0):
    """implement/generate rows per language, a fixed seeded sample, each with the item kind its target is."""
    from rxt5_assets import languages

    rng = random.Random(seed)
    picked = []
    for language in ("rust", "elixir"):
        group = [e for e in examples if e.language == language and e.task in ITEM_TASKS]
        rng.shuffle(group)
        for e in group[:rows_per_language]:
            picked.append((e, languages.get(language).analyze(e.target).kind))
    return picked


def generation_table(label: str, model, tokenizer, rows, k: int, seed: int = 0) -> dict:
    """Greedy and best-of-k strict validity and greedy chrF per language and task (same settings for every model)."""
    import sacrebleu
    import torch

    from rxt5_assets import languages
    from rxt5_assets.training.generate import generate

    inputs = [e.input for e, _ in rows]
    started = time.perf_counter()
    greedy = generate(model, tokenizer, inputs, max_new_tokens=128, repetition_penalty=1.2)
    torch.manual_seed(seed)
    sampled = generate(model, tokenizer, inputs, max_new_tokens=128, repetition_penalty=1.2, do_sample=True,
                       temperature=0.8, top_p=0.95, num_return_sequences=k) if k else []
    seconds = time.perf_counter() - started
    return score_outputs(label, rows, greedy, [sampled[i * k:(i + 1) * k] for i in range(len(rows))] if k else None,
                         seconds)


def score_outputs(label: str, rows, greedy: list[str], candidates: list[list[str]] | None, seconds: float = 0.0) -> dict:
    import sacrebleu

    from rxt5_assets import languages

    out = {"label": label, "seconds": round(seconds, 1), "groups": {}}
    groups = defaultdict(list)
    for i, (e, kind) in enumerate(rows):
        for key in (e.language, f"{e.language}/{e.task}"):
            groups[key].append(i)
    for key, idx in sorted(groups.items()):
        language = key.split("/")[0]
        module = languages.get(language)
        valid = [module.is_valid_item(greedy[i], rows[i][1]) for i in idx]
        row = {"rows": len(idx), "greedy_valid": round(100 * sum(valid) / len(idx), 1),
               "chrf": round(sacrebleu.corpus_chrf([greedy[i] for i in idx], [[rows[i][0].target for i in idx]]).score, 1)}
        if candidates is not None:
            best = [any(module.is_valid_item(c, rows[i][1]) for c in candidates[i]) for i in idx]
            row["best_of_k_valid"] = round(100 * sum(best) / len(idx), 1)
        out["groups"][key] = row
    out["samples"] = [{"input": rows[i][0].input[:200], "output": greedy[i][:300], "target": rows[i][0].target[:300]}
                      for i in range(min(3, len(rows)))]
    return out


def print_table(tables: list[dict], losses: dict[str, dict], title: str) -> None:
    print(f"\n## {title}")
    keys = sorted({k for t in tables for k in t["groups"]})
    print("| group | " + " | ".join(t["label"] for t in tables) + " |")
    print("|---|" + "---:|" * len(tables))
    for key in keys:
        cells = []
        for t in tables:
            g = t["groups"].get(key)
            cells.append("—" if g is None else
                         f"valid {g['greedy_valid']}% / bo{args_k} {g.get('best_of_k_valid', '—')}% / chrF {g['chrf']}")
        print(f"| {key} | " + " | ".join(cells) + " |")
    if losses:
        print("\n| eval loss | " + " | ".join(losses) + " |")
        print("|---|" + "---:|" * len(losses))
        for group in sorted({g for v in losses.values() for g in v}):
            print(f"| {group} | " + " | ".join(str(v.get(group, "—")) for v in losses.values()) + " |")


args_k = 8


def main(argv: list[str] | None = None) -> int:
    global args_k
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=str(REPO / "bench" / "results" / "demo_quality"))
    parser.add_argument("--rows", type=int, default=60, help="implement/generate eval rows per language")
    parser.add_argument("--k", type=int, default=8, help="candidates for best-of-k")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sweep", action="store_true", help="train and compare the LoRA variants (eval loss only)")
    parser.add_argument("--variants", nargs="*", help="with --sweep: only these variant names")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    args_k = args.k
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.data import read_jsonl
    from rxt5_assets.training.generate import load_trained
    from rxt5_assets.training.trainer import train

    home = Path(args.home)
    started = time.perf_counter()
    manifest = prepare_demo_dataset(home)
    print(f"demo dataset: {manifest['train_examples']} train / {manifest['eval_examples']} eval examples "
          f"({time.perf_counter() - started:.0f} s); load {os.getloadavg()[0]:.2f}")
    eval_examples = read_jsonl(manifest["eval_file"])
    base, tokenizer = load_base_model("demo", models_dir=home / "models")
    base_losses = eval_loss_by_language(base, tokenizer, eval_examples)
    results: dict = {"manifest": {k: manifest[k] for k in ("train_examples", "eval_examples", "mix")},
                     "base_eval_loss": base_losses}

    if args.sweep:
        all_linear = ("q", "k", "v", "o", "wi", "wo")
        variants = {
            "qv-r16-lr2e-4-e3": dict(lora_target_modules=("q", "v"), lora_r=16, learning_rate=2e-4, epochs=3),
            "qv-r16-lr2e-3-e3": dict(lora_target_modules=("q", "v"), lora_r=16, learning_rate=2e-3, epochs=3),
            "all-r16-lr2e-3-e3": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=2e-3, epochs=3),
            "all-r16-lr5e-3-e3": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=5e-3, epochs=3),
            "all-r32-lr5e-3-e3": dict(lora_target_modules=all_linear, lora_r=32, lora_alpha=64, learning_rate=5e-3,
                                      epochs=3),
            "all-r16-lr5e-3-e5": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=5e-3, epochs=5),
            "all-r16-lr1e-2-e5": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=1e-2, epochs=5),
            "full-lr1e-3-e3": dict(lora=False, learning_rate=1e-3, epochs=3),
        }
        print(f"\nbase eval loss: {base_losses}")
        print("| variant | train s | eval loss all | rust | elixir | cross | vs base (all) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, overrides in variants.items():
            if args.variants and name not in args.variants:
                continue
            config = train_config(manifest, home, f"sweep-{name}", **overrides)
            t0 = time.perf_counter()
            result = train(config)
            seconds = time.perf_counter() - t0
            model, _ = load_trained(result.adapter_dir, home / "models")
            losses = eval_loss_by_language(model, tokenizer, eval_examples)
            results.setdefault("sweep", {})[name] = {"seconds": round(seconds, 1), "eval_loss": losses}
            rel = 100 * (losses["all"] - base_losses["all"]) / base_losses["all"]
            print(f"| {name} | {seconds:.0f} | {losses['all']} | {losses.get('rust')} | {losses.get('elixir')} | "
                  f"{losses.get('cross', '—')} | {rel:+.1f}% |", flush=True)
    else:
        from rxt5_assets.evaluation.template import template_generation

        config = train_config(manifest, home, "quick-start")
        t0 = time.perf_counter()
        result = train(config)
        train_seconds = time.perf_counter() - t0
        adapter, _ = load_trained(result.adapter_dir, home / "models")
        adapter_losses = eval_loss_by_language(adapter, tokenizer, eval_examples)
        rows = item_rows(eval_examples, args.rows)
        tables = [
            generation_table("base", base, tokenizer, rows, args.k),
            generation_table("base + adapter", adapter, tokenizer, rows, args.k),
            score_outputs("template", rows, [template_generation(e.input, e.task, e.language) for e, _ in rows], None),
        ]
        results.update({"train_seconds": round(train_seconds, 1), "adapter_eval_loss": adapter_losses,
                        "tables": tables, "hyperparameters": result.hyperparameters})
        print(f"fine-tune: {train_seconds:.0f} s, {result.global_step} steps; load {os.getloadavg()[0]:.2f}")
        print_table(tables, {"base": base_losses, "base + adapter": adapter_losses},
                    f"demo eval split, {args.rows} implement/generate rows per language, k={args.k}")
        for t in tables[:2]:
            print(f"\n### samples ({t['label']})")
            for s in t["samples"]:
                print(json.dumps(s, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
