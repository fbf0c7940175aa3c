"""Does the demo's fine-tune learn the org's code? Base alone vs base + adapter vs a template floor, side by side.

    python bench/bench_demo_quality.py [--rows 60] [--k 8] [--sweep]

On the demo corpus's eval split (files neither the shipped base nor the adapter trained on):
  1. the data stage runs on the demo corpus exactly as the quick start does (data_prep defaults), in its own home;
  2. the quick start's fine-tune trains on the train split with the lora_adapter defaults for the `demo` base, timed;
  3. the same rows and generation settings for every column of the table, scored by the evaluation gate's own runner
     (`rxt5_assets.evaluation.runner`): eval loss per language (teacher-forced, the trainer's own loss, all tasks),
     and on `implement`/`generate` rows (the tasks whose target is one whole item) strict item validity (the language
     module's `is_valid_item` of the requested kind) for greedy and for best-of-k sampled candidates filtered by it,
     chrF (sacrebleu) of the greedy output per task, and CodeBLEU of the best-of-k pick.
  4. base + adapter − base with 95 % paired-bootstrap intervals over the rows (`evaluation.significance`):
     strict validity greedy and best-of-k, chrF on `implement` — which differences are more than the sample's luck.
`--sweep` trains the LoRA variants compared in the README (target modules, rank, learning rate, epochs) and prints eval
loss per language before/after each, with training time. Everything runs on the CPU; the machine's load is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
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
    from rxt5_assets.data.stages import PrepareConfig, StageFiles, run_data_stage
    from rxt5_assets.db import Database
    from rxt5_assets.ingest import ingest_demo

    database = Database(home=home)
    database.migrate()
    ingest_demo(database, progress=False)
    config = PrepareConfig(workers=default_workers())
    files = StageFiles(home / "data")
    with database.connect() as conn:
        run_data_stage(conn, files, home / "datasets" / config.name, config)
    return json.loads(manifest_path.read_text())


def train_config(manifest: dict, home: Path, name: str, base: str = "demo", **overrides):
    """The quick start's fine-tune (the demo base's defaults) on `base`: the shipped `demo`, or a folder such as one
    of scripts/build_demo_base.py's bases (to measure how the fine-tune's quality follows the base's pretraining)."""
    from rxt5_assets.training.config import DEMO, TrainConfig, defaults_for_base

    settings = {**defaults_for_base(DEMO), **overrides}
    return TrainConfig(train_file=Path(manifest["train_file"]), eval_file=Path(manifest["eval_file"]),
                       output_dir=home / "runs" / name, models_dir=home / "models", base_model=base, **settings)


def eval_loss_by_language(model, tokenizer, examples, batch_size: int = 32) -> dict[str, float]:
    """Token-weighted mean cross-entropy per language of the eval rows (pairs pooled as 'cross') and 'all': the
    trainer's own grouped eval pass (`training.metrics.grouped_eval_loss`), one forward pass over the rows."""
    from transformers import DataCollatorForSeq2Seq

    from rxt5_assets.training.metrics import grouped_eval_loss
    from rxt5_assets.training.trainer import tokenize_examples

    features = tokenize_examples(examples, tokenizer, max_source_length=320, max_target_length=128).features
    groups = ["cross" if "->" in e.language else e.language for e in examples]
    collate = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
    grouped = grouped_eval_loss(model, features, groups, [e.task for e in examples], collate,
                                batch_size=batch_size, device=next(model.parameters()).device)
    return {group: round(loss, 4) for group, loss in sorted({**grouped.by_language, "all": grouped.loss}.items())}


def item_rows(examples, rows_per_language: int | None, seed: int = 42):
    """implement/generate rows (a target that is one whole item) per language, a seeded sample stratified by task."""
    from rxt5_assets.evaluation.runner import as_rows, sample_rows

    rows = [r for r in as_rows(examples) if r.task in ITEM_TASKS and r.language in ("rust", "elixir")]
    picked = []
    for language in ("rust", "elixir"):
        picked.extend(sample_rows([r for r in rows if r.language == language], rows_per_language, seed))
    return picked


def evaluate_systems(rows, models: dict, k: int, max_new_tokens: int = 128, *, backend: str = "auto",
                     work_dir: Path | None = None) -> dict[str, dict]:
    """The evaluation gate's own runner (greedy + best-of-k filtered by strict validity) on the same rows and
    settings for every model and the template floor; scores per language and task. `backend` as the gate's: with a
    `work_dir`, `auto` decodes on CTranslate2 fp32 like the gate (a converted copy there, removed afterwards); without
    one, on transformers."""
    from rxt5_assets.evaluation.runner import EvaluationSettings, evaluate_model, evaluate_template

    settings = EvaluationSettings(max_rows=None, k=k, metrics=("chrf", "strict_validity", "code_bleu"),
                                  max_new_tokens=max_new_tokens, backend=backend)
    results = {}
    for label, (model, tokenizer) in models.items():
        started = time.perf_counter()
        result = evaluate_model(model, tokenizer, rows, settings, work_dir=work_dir)
        results[label] = {"scores": result.scores, "seconds": round(time.perf_counter() - started, 1),
                          "_outputs": (result.greedy, result.best),  # for the paired bootstrap; not written out
                          "samples": [{"input": r.input[:160], "greedy": g[:300], "target": r.target[:300]}
                                      for r, g in list(zip(rows, result.greedy))[:: max(1, len(rows) // 4)][:4]]}
    results["template"] = {"scores": evaluate_template(rows, settings).scores, "seconds": 0.0, "samples": []}
    return results


def print_quality(results: dict[str, dict], losses: dict[str, dict], k: int) -> None:
    labels = list(results)
    print(f"\n| language (rows) | metric | " + " | ".join(labels) + " |")
    print("|---|---|" + "---:|" * len(labels))
    for language in ("rust", "elixir"):
        first = results[labels[0]]["scores"]["by_language"].get(language)
        if not first:
            continue
        rows = int(first["rows"])
        lines = [("eval loss (all tasks)", lambda label: losses.get(label, {}).get(language, "—")),
                 ("strict-valid, greedy %", lambda label: _pct(results, label, language, "strict_validity@greedy")),
                 (f"strict-valid, best-of-{k} %",
                  lambda label: _pct(results, label, language, "strict_validity@best_of_k")),
                 ("chrF greedy, implement", lambda label: _value(results, label, language, "chrf@greedy", "implement")),
                 ("chrF greedy, generate", lambda label: _value(results, label, language, "chrf@greedy", "generate")),
                 (f"CodeBLEU best-of-{k}", lambda label: _value(results, label, language, "code_bleu@best_of_k"))]
        for name, cell in lines:
            print(f"| {language} ({rows}) | {name} | " + " | ".join(str(cell(label)) for label in labels) + " |")


def paired_differences(rows, results: dict[str, dict], a: str, b: str, k: int, resamples: int = 1000) -> dict:
    """b − a per language with 95 % paired-bootstrap intervals over the rows (evaluation.significance): strict
    validity greedy and best-of-k (per row 0/1, kinded rows) and corpus chrF of the greedy output on `implement`."""
    from rxt5_assets.evaluation.metrics import strict_valid
    from rxt5_assets.evaluation.significance import corpus_chrf, paired_bootstrap

    (greedy_a, best_a), (greedy_b, best_b) = results[a]["_outputs"], results[b]["_outputs"]
    out: dict[str, dict] = {}
    for language in ("rust", "elixir"):
        idx = [i for i, r in enumerate(rows) if r.language == language and r.kind]
        if not idx:
            continue

        def valid(outputs, i):
            return float(strict_valid(outputs[i], language, rows[i].kind))

        implement = [i for i, r in enumerate(rows) if r.language == language and r.task == "implement"]
        out[language] = {
            "strict_validity@greedy": paired_bootstrap([valid(greedy_a, i) for i in idx],
                                                       [valid(greedy_b, i) for i in idx], resamples=resamples),
            f"strict_validity@best_of_{k}": paired_bootstrap([valid(best_a, i) for i in idx],
                                                             [valid(best_b, i) for i in idx], resamples=resamples),
            "chrf@greedy implement": paired_bootstrap([(greedy_a[i], rows[i].target) for i in implement],
                                                      [(greedy_b[i], rows[i].target) for i in implement],
                                                      corpus_chrf, resamples=resamples),
        }
    return out


def print_differences(differences: dict, a: str, b: str) -> None:
    print(f"\n{b} − {a}, 95 % paired-bootstrap interval over the rows (* : the interval excludes 0)")
    print("| language | metric | difference [95 % interval] | P(better) |")
    print("|---|---|---:|---:|")
    for language, metrics in differences.items():
        for name, diff in metrics.items():
            scale = 1.0 if name.startswith("chrf") else 100.0
            print(f"| {language} | {name} | {diff.describe(scale)} | {diff.p_b_better:.2f} |")


def generation_summary(scores: dict, k: int) -> str:
    """One line per system: strict validity greedy / best-of-k and chrF on implement, per language."""
    parts = []
    for language in ("rust", "elixir"):
        group = scores["by_language"].get(language) or {}
        implement = scores["by_task"].get(language, {}).get("implement") or {}
        parts.append(f"{language}: valid greedy {100 * group.get('strict_validity@greedy', 0):.1f}% "
                     f"best-of-{k} {100 * group.get('strict_validity@best_of_k', 0):.1f}% "
                     f"chrF implement {implement.get('chrf@greedy', 0):.2f}")
    return " | ".join(parts)


def _value(results, label, language, key, task=None, scale=1.0):
    scores = results[label]["scores"]
    group = scores["by_task"].get(language, {}).get(task) if task else scores["by_language"].get(language)
    value = (group or {}).get(key)
    return "—" if value is None else round(value * scale, 3 if scale == 1.0 and value <= 1 else 1)


def _pct(results, label, language, key):
    return _value(results, label, language, key, scale=100.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=str(REPO / "bench" / "results" / "demo_quality"))
    parser.add_argument("--rows", type=int, default=60, help="implement/generate eval rows per language (0: all)")
    parser.add_argument("--k", type=int, default=8, help="candidates for best-of-k")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", choices=("auto", "ctranslate2", "transformers"), default="auto",
                        help="what the generations decode on: auto = the evaluation gate's (CTranslate2 fp32 on a "
                             "CPU), transformers = the figures before 2026-12-03")
    parser.add_argument("--base", default="demo",
                        help="the base: `demo` (shipped) or a built base folder, e.g. .rxt5-demo-base/bases/<name>")
    parser.add_argument("--sweep", action="store_true", help="train and compare the LoRA variants (eval loss only)")
    parser.add_argument("--variants", nargs="*", help="with --sweep: only these variant names")
    parser.add_argument("--generation", action="store_true",
                        help="with --sweep: also score every variant's generations (strict validity, chrF) on the "
                             "item rows, like the quick start's row of the table")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override a training setting of the quick start's fine-tune, e.g. learning_rate=2e-3")
    args = parser.parse_args(argv)
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
    base, tokenizer = load_base_model(args.base, models_dir=home / "models")
    tag = "" if args.base == "demo" else f"@{Path(args.base).name}"  # run folders per base
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
            # the org's own identifiers live in the (tied) embeddings, which LoRA on the linear layers cannot touch
            "all+emb-r32-lr5e-3-e5": dict(lora_target_modules=(*all_linear, "shared", "lm_head"), lora_r=32,
                                          lora_alpha=64, learning_rate=5e-3, epochs=5),
            "all-r64-lr5e-3-e5": dict(lora_target_modules=all_linear, lora_r=64, lora_alpha=128, learning_rate=5e-3,
                                      epochs=5),
            "all-r16-lr2e-3-e1": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=2e-3, epochs=1),
            "all-r16-lr2e-3-e2": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=2e-3, epochs=2),
            # + the embeddings of the N most frequent training tokens (peft trainable tokens, tied, mergeable)
            "all-r16-lr2e-3-e3-tok2000": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=2e-3, epochs=3,
                                              lora_trainable_tokens=2000),
            "all-r16-lr2e-3-e3-tok4000": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=2e-3, epochs=3,
                                              lora_trainable_tokens=4000),
            "all-r16-lr2e-3-e3-tok8000": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=2e-3, epochs=3,
                                              lora_trainable_tokens=8000),
            "all-r16-lr2e-3-e3-t256": dict(lora_target_modules=all_linear, lora_r=16, learning_rate=2e-3, epochs=3,
                                           max_target_length=256),
        }
        print(f"\nbase eval loss: {base_losses}")
        print("| variant | train s | eval loss all | rust | elixir | cross | vs base (all) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, overrides in variants.items():
            if args.variants and name not in args.variants:
                continue
            config = train_config(manifest, home, f"sweep-{name}{tag}", base=args.base, **overrides)
            t0 = time.perf_counter()
            result = train(config)
            seconds = time.perf_counter() - t0
            model, _ = load_trained(result.adapter_dir, home / "models")
            losses = eval_loss_by_language(model, tokenizer, eval_examples)
            results.setdefault("sweep", {})[name] = {"seconds": round(seconds, 1), "eval_loss": losses}
            rel = 100 * (losses["all"] - base_losses["all"]) / base_losses["all"]
            print(f"| {name} | {seconds:.0f} | {losses['all']} | {losses.get('rust')} | {losses.get('elixir')} | "
                  f"{losses.get('cross', '—')} | {rel:+.1f}% |", flush=True)
            if args.generation:
                rows = item_rows(eval_examples, args.rows or None)
                quality = evaluate_systems(rows, {name: (model, tokenizer)}, args.k, backend=args.backend,
                                           work_dir=home / "eval-scratch")
                results["sweep"][name]["quality"] = quality[name]
                print("    " + generation_summary(quality[name]["scores"], args.k), flush=True)
    else:
        overrides = {k: (tuple(v.split(",")) if k == "lora_target_modules" else float(v) if "." in v or "e" in v
                         else int(v)) for k, v in (item.split("=", 1) for item in args.set)}
        config = train_config(manifest, home, "quick-start" + "".join(f"-{k}{v}" for k, v in overrides.items()) + tag,
                              base=args.base, **overrides)
        t0 = time.perf_counter()
        result = train(config)
        train_seconds = time.perf_counter() - t0
        adapter, _ = load_trained(result.adapter_dir, home / "models")
        adapter_losses = eval_loss_by_language(adapter, tokenizer, eval_examples)
        rows = item_rows(eval_examples, args.rows or None)
        quality = evaluate_systems(rows, {"base": (base, tokenizer), "base + adapter": (adapter, tokenizer)}, args.k,
                                   backend=args.backend, work_dir=home / "eval-scratch")
        results.update({"train_seconds": round(train_seconds, 1), "adapter_eval_loss": adapter_losses,
                        "quality": quality, "hyperparameters": result.hyperparameters,
                        "global_step": result.global_step})
        print(f"fine-tune: {train_seconds:.0f} s, {result.global_step} steps "
              f"({json.dumps({k: result.hyperparameters[k] for k in ('epochs', 'learning_rate', 'lora_r')})}); "
              f"load {os.getloadavg()[0]:.2f}")
        print("relative eval-loss change: " + ", ".join(
            f"{g} {100 * (adapter_losses[g] - base_losses[g]) / base_losses[g]:+.1f}%" for g in base_losses))
        print_quality(quality, {"base": base_losses, "base + adapter": adapter_losses}, args.k)
        differences = paired_differences(rows, quality, "base", "base + adapter", args.k)
        print_differences(differences, "base", "base + adapter")
        results["paired_differences"] = {language: {name: d.as_dict() for name, d in metrics.items()}
                                         for language, metrics in differences.items()}
        for label in ("base", "base + adapter"):
            print(f"\n### greedy samples ({label}, {quality[label]['seconds']} s)")
            for sample in quality[label]["samples"]:
                print(json.dumps(sample, ensure_ascii=False))
    if args.json:
        for system in results.get("quality", {}).values():
            system.pop("_outputs", None)
        for variant in results.get("sweep", {}).values():
            variant.get("quality", {}).pop("_outputs", None)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
