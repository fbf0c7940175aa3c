"""Does retrieved context help generation? Greedy generation on the demo eval split with and without RAG context.

    python bench/bench_rag_generation.py [--rows 0] [--context-k 2] [--train-rag] [--adapter DIR]

1. The quick start's data stage on the demo corpus (bench_demo_quality.prepare_demo_dataset), in its own home.
2. The quick start's fine-tune on train.jsonl (or `--adapter DIR`, an adapter trained on the same split).
3. The eval split's implement/generate rows (rust, elixir): each generated greedily (repetition penalty 1.2, 128 new
   tokens, 320 source tokens: the evaluation gate's settings) from its input as is, and from its input with retrieved
   context (`with_context`, the `k` best chunks of `retrieve` with the default retriever) — retrieved from the
   train-side files of the same repo, the row's own chunk excluded (so no eval file's code is ever shown).
   Scored by the evaluation runner: strict validity (parses, and is the requested kind of item) and chrF.
4. `--train-rag`: a second adapter, same settings, trained on retrieval-augmented examples (`augment_examples`: the
   same context on every implement/generate train row, its own chunk and eval files excluded), evaluated the same way.

Systems: the bare demo base, the plain adapter, and (with --train-rag) the RAG-trained adapter. The machine's load is
printed; every system sees the same rows and settings.
"""

from __future__ import annotations

import argparse
import dataclasses
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

METRICS = ("chrf", "strict_validity")


def read_rows(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_rows(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def with_context_rows(conn, rows, train_files, k: int, method: str):
    """The eval rows with retrieved context on their inputs (targets, kinds unchanged)."""
    from rxt5_assets.retrieval.augment import augment_examples

    augmented = augment_examples([dataclasses.asdict(row) for row in rows], conn, train_files=train_files, k=k,
                                 method=method)
    return [dataclasses.replace(row, input=new["input"]) for row, new in zip(rows, augmented)]


def greedy_scores(model, tokenizer, rows, settings) -> tuple[dict, float, list[str]]:
    from rxt5_assets.evaluation.runner import score_system
    from rxt5_assets.training.generate import generate_ids

    started = time.perf_counter()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].input))
    ids = generate_ids(model, tokenizer, [rows[i].input for i in order], max_new_tokens=settings.max_new_tokens,
                       repetition_penalty=settings.repetition_penalty, max_source_length=settings.max_source_length,
                       batch_size=settings.batch_size)
    decoded = tokenizer.batch_decode(ids, skip_special_tokens=True)
    greedy = [""] * len(rows)
    for position, i in enumerate(order):
        greedy[i] = decoded[position]
    seconds = time.perf_counter() - started
    return score_system(rows, greedy, greedy, settings, metrics=METRICS), seconds, greedy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=str(REPO / "bench" / "results" / "rag_generation"))
    parser.add_argument("--rows", type=int, default=0, help="implement/generate eval rows per language (0: all)")
    parser.add_argument("--context-k", type=int, default=2, help="retrieved chunks per input")
    parser.add_argument("--method", default=None, help="retriever (default: retrieve's default)")
    parser.add_argument("--adapter", help="an adapter trained on this split (default: train the quick start's)")
    parser.add_argument("--rag-adapter", help="an adapter trained on the RAG examples of this split")
    parser.add_argument("--train-rag", action="store_true", help="also train and evaluate a RAG-trained adapter")
    parser.add_argument("--systems", default=None,
                        help="comma-separated: base, adapter, rag, or none (default: base,adapter and rag when "
                             "--train-rag or --rag-adapter); e.g. `--train-rag --systems none` only trains")
    parser.add_argument("--resume", action="store_true",
                        help="continue a training interrupted earlier from its last checkpoint")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from bench_demo_quality import item_rows, prepare_demo_dataset, train_config
    from rxt5_assets.db import Database
    from rxt5_assets.evaluation.runner import EvaluationSettings
    from rxt5_assets.retrieval.augment import augment_examples
    from rxt5_assets.retrieval.search import DEFAULT_METHOD
    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.data import read_jsonl
    from rxt5_assets.training.generate import load_trained
    from rxt5_assets.training.trainer import train

    method = args.method or DEFAULT_METHOD
    home = Path(args.home)
    started = time.perf_counter()
    manifest = prepare_demo_dataset(home)
    print(f"demo dataset: {manifest['train_examples']} train / {manifest['eval_examples']} eval examples "
          f"({time.perf_counter() - started:.0f} s); load {os.getloadavg()[0]:.2f}", flush=True)
    train_rows = read_rows(manifest["train_file"])
    train_files = {(row["repo"], row["file_path"]) for row in train_rows if row.get("repo")}
    rows = item_rows(read_jsonl(manifest["eval_file"]), args.rows or None)
    database = Database(home=home)
    database.migrate()  # migration 5 on a home prepared before retrieval existed
    settings = EvaluationSettings(max_rows=None, k=1, metrics=METRICS)
    with database.connect() as conn:
        started = time.perf_counter()
        context_rows = with_context_rows(conn, rows, train_files, args.context_k, method)
        retrieval_seconds = time.perf_counter() - started
        with_context_count = sum(a.input != b.input for a, b in zip(rows, context_rows))
        print(f"{len(rows)} eval rows, {with_context_count} got context ({method}, k={args.context_k}) in "
              f"{retrieval_seconds:.1f} s", flush=True)

        wanted = (args.systems.split(",") if args.systems else
                  ["base", "adapter"] + ["rag"] * bool(args.train_rag or args.rag_adapter))
        systems = {}
        if "base" in wanted:
            systems["base"] = load_base_model("demo", models_dir=home / "models")
        if "adapter" in wanted:
            if args.adapter:
                adapter_dir = Path(args.adapter)
            else:
                t0 = time.perf_counter()
                adapter_dir = train(train_config(manifest, home, "plain", resume=args.resume)).adapter_dir
                print(f"plain adapter trained in {time.perf_counter() - t0:.0f} s; load {os.getloadavg()[0]:.2f}",
                      flush=True)
            systems["adapter"] = load_trained(adapter_dir, home / "models")
        if args.rag_adapter and "rag" in wanted:
            systems["RAG-trained adapter"] = load_trained(Path(args.rag_adapter), home / "models")
        elif args.train_rag:
            t0 = time.perf_counter()
            rag_dir = home / "datasets" / "rag"
            write_rows(augment_examples(train_rows, conn, train_files=train_files, k=args.context_k, method=method),
                       rag_dir / "train.jsonl")
            write_rows(augment_examples(read_rows(manifest["eval_file"]), conn, train_files=train_files,
                                        k=args.context_k, method=method), rag_dir / "eval.jsonl")
            augment_seconds = time.perf_counter() - t0
            rag_manifest = {**manifest, "train_file": str(rag_dir / "train.jsonl"),
                            "eval_file": str(rag_dir / "eval.jsonl")}
            t0 = time.perf_counter()
            rag_adapter = train(train_config(rag_manifest, home, "rag", resume=args.resume)).adapter_dir
            print(f"RAG examples built in {augment_seconds:.1f} s; RAG adapter trained in "
                  f"{time.perf_counter() - t0:.0f} s; load {os.getloadavg()[0]:.2f}", flush=True)
            if "rag" in wanted:
                systems["RAG-trained adapter"] = load_trained(rag_adapter, home / "models")

    results: dict = {"rows": len(rows), "with_context": with_context_count, "method": method,
                     "context_k": args.context_k, "systems": {}}
    samples = {}
    for label, (model, tokenizer) in systems.items():
        for variant, variant_rows in (("no context", rows), ("with context", context_rows)):
            scores, seconds, greedy = greedy_scores(model, tokenizer, variant_rows, settings)
            results["systems"].setdefault(label, {})[variant] = {"scores": scores, "seconds": round(seconds, 1)}
            samples[(label, variant)] = greedy
            print(f"  {label}, {variant}: {seconds:.0f} s; load {os.getloadavg()[0]:.2f}", flush=True)

    if not systems:
        return 0
    print(f"\n| language (rows) | system | strict-valid % no context | with context | chrF no context | "
          f"with context |\n|---|---|---:|---:|---:|---:|")
    for language in ("rust", "elixir", "all"):
        for label in systems:
            cells = []
            for metric, scale in (("strict_validity@greedy", 100), ("chrf@greedy", 1)):
                for variant in ("no context", "with context"):
                    value = results["systems"][label][variant]["scores"]["by_language"].get(language, {}).get(metric)
                    cells.append("—" if value is None else f"{value * scale:.1f}" if scale == 100 else f"{value:.2f}")
            count = int(results["systems"][label]["no context"]["scores"]["by_language"][language]["rows"])
            print(f"| {language} ({count}) | {label} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    index = next((i for i, (a, b) in enumerate(zip(rows, context_rows)) if a.input != b.input), None)
    if index is not None:
        print("\n### one row with context\n" + json.dumps(
            {"input": context_rows[index].input[:700], "target": rows[index].target[:300],
             **{f"{label} / {variant}": samples[(label, variant)][index][:300] for label, variant in samples}},
            ensure_ascii=False, indent=1))
    print(f"\nload at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
