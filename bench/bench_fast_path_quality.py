"""Does the fast path cost quality? Greedy generation of transformers vs CTranslate2 fp32 vs CTranslate2 int8 on the
demo eval split, scored by the evaluation gate's own metrics.

    python bench/bench_fast_path_quality.py [--deployment .rxt5/models/active --deployment-home .rxt5] [--json out]

Rows: every `implement`/`generate` row (a target that is one whole item) of the demo corpus's eval split — files
neither the shipped base nor the adapter trained on —, built by the quick start's data stage exactly as
`bench/bench_demo_quality.py` builds it (same home by default, reused when there). Model: a deployed version
(`--deployment`, e.g. `.rxt5/models/active` after the quick start); without one, the quick start's fine-tune is trained
in the bench home (as bench_demo_quality does) and deployed there by promotion's own folder builder. Each system
decodes greedily with the gate's settings (128 new tokens, repetition penalty 1.2, sources cut at 320 tokens), and is
scored by `evaluation.runner.score_system`: strict validity (the language module's `is_valid_item` of the requested
kind) and chrF (the local `evaluation/metrics/chrf`), per language and per task. Also: how many rows each system's
output equals the transformers output exactly. The gate for int8: within 1 point of fp32 on both metrics.
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

MAX_SOURCE = 320  # EvaluationSettings.max_source_length: what the gate generates with


def demo_deployment(home: Path, manifest: dict, adapter: Path | None = None) -> Path:
    """An adapter folder (default: the quick start's fine-tune, trained here once as bench_demo_quality does),
    deployed in `home` by promotion's own folder builder."""
    from bench_demo_quality import train_config

    from rxt5_assets.evaluation.promotion import _deployment_folder
    from rxt5_assets.training.trainer import train

    if adapter is None:
        config = train_config(manifest, home, "quick-start")
        adapter = config.output_dir / "adapter"
        if not (adapter / "adapter_config.json").is_file():
            adapter = train(config).adapter_dir
    adapter = Path(adapter).resolve()
    meta = json.loads((adapter / "rxt5_training.json").read_text())
    name = "bench-" + "-".join(adapter.parts[-2:]).replace("_", "-")[-60:]
    return _deployment_folder(home / "models", {
        "version": name, "id": "bench", "base_model": meta["base_model"], "adapter_path": str(adapter),
        "hyperparameters": {"base_model_path": meta.get("base_model_path"),
                            "base_fingerprint": meta.get("base_fingerprint")}})


def mean_nll(backend, rows, max_target: int = 128) -> float:
    """Token-weighted mean negative log-likelihood of the rows' targets (teacher-forced, end token included,
    targets cut at the trainer's 128 tokens) under a CTranslate2 backend: `score_batch`."""
    tok = backend.tokenizer
    sources = backend._sources([r.input for r in rows])
    targets = [tok.convert_ids_to_tokens(tok(r.target, add_special_tokens=False).input_ids[:max_target - 1])
               for r in rows]
    total, count = 0.0, 0
    for i in range(0, len(rows), 16):
        for result in backend.translator.score_batch(sources[i:i + 16], targets[i:i + 16], max_input_length=0):
            total -= sum(result.log_probs)
            count += len(result.log_probs)
    return total / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=str(REPO / "bench" / "results" / "demo_quality"),
                        help="the demo dataset's home (bench_demo_quality's by default)")
    parser.add_argument("--deployment", help="a deployment folder to measure (default: the quick start's fine-tune)")
    parser.add_argument("--deployment-home", help="RXT5_HOME of --deployment, where its base is found")
    parser.add_argument("--adapter", help="an adapter folder to deploy in --home and measure (instead of the quick "
                                          "start's fine-tune)")
    parser.add_argument("--skip-transformers", action="store_true",
                        help="only the two CTranslate2 systems (fp32 greedy equals transformers' token for token)")
    parser.add_argument("--threads", type=int, default=None, help="threads for every system (default: all cores)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    import torch
    from bench_demo_quality import item_rows, prepare_demo_dataset

    from rxt5_assets.evaluation.runner import EvaluationSettings, score_system
    from rxt5_assets.generation.backends import SamplingParams, load_backend
    from rxt5_assets.generation.ctranslate import CTranslate2Backend, convert_deployment, default_threads
    from rxt5_assets.training.data import read_jsonl

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    home = Path(args.home)
    manifest = prepare_demo_dataset(home)
    rows = item_rows(read_jsonl(manifest["eval_file"]), None)
    if args.deployment:
        deployment = Path(args.deployment).resolve()
        deployment_home = Path(args.deployment_home) if args.deployment_home else home
    else:
        deployment, deployment_home = demo_deployment(home, manifest, args.adapter), home
    print(f"{len(rows)} implement/generate eval rows; deployment {deployment.name}; threads {threads}; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)

    converted = {c.quantization: c for c in convert_deployment(deployment, ("fp32", "int8"), home=deployment_home)}
    systems = {} if args.skip_transformers else {
        "transformers fp32": load_backend(deployment, kind="transformers", home=deployment_home)}
    for q in ("fp32", "int8"):
        systems[f"ctranslate2 {q}"] = CTranslate2Backend(converted[q].folder, quantization=q, threads=threads)
    params = SamplingParams(max_new_tokens=128, repetition_penalty=1.2)
    settings = EvaluationSettings(max_rows=None, metrics=("chrf", "strict_validity"))
    prompts = [r.input for r in rows]
    outputs, scores, seconds = {}, {}, {}
    for name, backend in systems.items():
        backend.max_source_length = MAX_SOURCE
        started = time.perf_counter()
        outputs[name] = [c[0] for c in backend.generate(prompts, params)]
        seconds[name] = round(time.perf_counter() - started, 1)
        scores[name] = score_system(rows, outputs[name], outputs[name], settings, metrics=("chrf", "strict_validity"))
        print(f"  {name}: {seconds[name]} s; load {os.getloadavg()[0]:.2f}", flush=True)

    names = list(systems)
    print("\n| language (rows) | metric | " + " | ".join(names) + " | int8 − fp32 |")
    print("|---|---|" + "---:|" * (len(names) + 1))
    table = []
    for language in ("rust", "elixir", "all"):
        first = scores[names[0]]["by_language"].get(language)
        if not first:
            continue
        lines = [("strict-valid, greedy %", lambda n: 100 * scores[n]["by_language"][language]
                  ["strict_validity@greedy"]),
                 ("chrF greedy", lambda n: scores[n]["by_language"][language]["chrf@greedy"])]
        for task in ("implement", "generate"):
            if language != "all" and task in scores[names[0]]["by_task"].get(language, {}):
                lines.append((f"chrF greedy, {task}",
                              lambda n, task=task: scores[n]["by_task"][language][task]["chrf@greedy"]))
        for metric, value in lines:
            values = [value(n) for n in names]
            delta = values[-1] - values[-2]
            table.append({"language": language, "rows": int(first["rows"]), "metric": metric,
                          **dict(zip(names, values)), "int8_minus_fp32": delta})
            print(f"| {language} ({int(first['rows'])}) | {metric} | " + " | ".join(f"{v:.1f}" for v in values)
                  + f" | {delta:+.1f} |")
    reference = outputs[names[0]]
    same = {n: sum(a == b for a, b in zip(outputs[n], reference)) for n in names}
    print(f"\nrows whose greedy output equals {names[0]}'s exactly: "
          + ", ".join(f"{n} {same[n]}/{len(rows)}" for n in names))
    nll = {n: round(mean_nll(systems[n], rows), 4) for n in names if n.startswith("ctranslate2")}
    print("teacher-forced target NLL (nats/token, all rows): " + ", ".join(f"{n} {v}" for n, v in nll.items()))
    print("generation seconds: " + ", ".join(f"{n} {seconds[n]}" for n in names))
    worst = max(abs(r["int8_minus_fp32"]) for r in table if r["language"] in ("rust", "elixir", "all")
                and r["metric"] in ("strict-valid, greedy %", "chrF greedy"))
    verdict = "within" if worst <= 1.0 else "NOT within"
    print(f"int8 vs fp32: largest gap {worst:.2f} points on strict validity / chrF (per language and overall): "
          f"{verdict} 1 point")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": len(rows), "table": table, "same_as_first": same, "nll": nll,
                                               "seconds": seconds, "worst_gap": worst,
                                               "samples": [{"input": r.input[:200],
                                                            **{n: outputs[n][i][:300] for n in names}}
                                                           for i, r in enumerate(rows[:: max(1, len(rows) // 6)])]},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
