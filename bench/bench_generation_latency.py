"""Latency of a 128-token generation: transformers fp32 vs the CTranslate2 fast path (fp32, int8), batch 1 vs batched.

    python bench/bench_generation_latency.py [--threads 2] [--runs 20] [--runs-large 5] [--batch 1 8]
        [--deployment .rxt5/models/active] [--skip-large] [--json out.json]

Two models:
  (a) the demo model: a deployed version (`--deployment`, e.g. `.rxt5/models/active` after the quick start: the demo
      base + its LoRA adapter) — without one, a deployment of the bare shipped demo base is built in the bench home;
  (b) a randomly initialised codet5p-220m-shaped T5 built from a config (d_model 768, 12+12 layers, d_ff 3072, 12
      heads, vocab 32100; no download), saved as a full-model deployment (its tokenizer: the demo base's, padded with
      added tokens to 32,100 entries).
Each is converted by the fast path's own `ensure_converted` (verified, cached in the deployment folder). Every
generation is forced to exactly 128 new tokens in every system — transformers `min_new_tokens=128,
max_new_tokens=128`, CTranslate2 `min_decoding_length=128, max_decoding_length=128` — so no system wins by stopping
early at an end token (the lengths are checked). Greedy, repetition penalty 1.2 (the serving default), the same
prompts, the same number of threads for every system (torch.set_num_threads and CTranslate2's intra_threads), and the
systems timed in turn (A B C A B C ...) after one warm-up each, so drifting machine load hits all of them alike.
p50/p95 are over the runs; the speed-up is the ratio of medians; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NEW_TOKENS = 128
PROMPTS = [
    "implement rust: /// Returns the account's balance after applying every pending entry.\n"
    "pub fn settled_balance(&self, entries: &[Entry]) -> Result<i64, LedgerError>",
    "implement elixir: @doc \"Starts a cache process whose entries expire after the given TTL.\"\n"
    "def start_link(opts)",
    "generate rust struct: A rate limiter that allows a number of requests per window.",
    "generate elixir module: A GenServer for caching with TTL.",
    "implement rust: /// Parses a currency code such as `EUR`.\npub fn parse_currency(code: &str) -> Option<Currency>",
    "implement elixir: @doc \"Sums the amounts of a list of invoices.\"\ndef total(invoices)",
    "write tests rust: pub fn add(a: u64, b: u64) -> u64 { a + b }",
    "translate rust to elixir: pub fn is_empty(&self) -> bool { self.items.is_empty() }",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def base_deployment(home: Path) -> Path:
    """A deployment folder of the bare shipped demo base, built by promotion's own builder."""
    from rxt5_assets.evaluation.promotion import _deployment_folder
    from rxt5_assets.training.base_model import DEMO_BASE_DIR, demo_base_metadata

    fingerprint = demo_base_metadata().get("fingerprint") or "demo"
    return _deployment_folder(home / "models", {
        "version": f"base-{fingerprint[:12]}", "id": "bench", "base_model": "demo", "adapter_path": None,
        "hyperparameters": {"kind": "base", "base_model_path": str(DEMO_BASE_DIR), "base_fingerprint": fingerprint}})


def random_220m_deployment(home: Path) -> Path:
    """A randomly initialised codet5p-220m-shaped T5 (seeded), saved as a full-model deployment."""
    from rxt5_assets.evaluation.promotion import DEPLOYMENT_MANIFEST

    folder = home / "models" / "deployments" / "random-codet5p-220m"
    if (folder / DEPLOYMENT_MANIFEST).is_file():
        return folder
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    from rxt5_assets.training.base_model import DEMO_BASE_DIR

    torch.manual_seed(0)
    config = T5Config(vocab_size=32100, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_decoder_layers=12,
                      num_heads=12, feed_forward_proj="relu", pad_token_id=0, eos_token_id=2, bos_token_id=1,
                      decoder_start_token_id=0, tie_word_embeddings=True)
    model = T5ForConditionalGeneration(config).eval()
    tokenizer = AutoTokenizer.from_pretrained(DEMO_BASE_DIR)
    tokenizer.add_tokens([f"<pad_tok_{i}>" for i in range(config.vocab_size - len(tokenizer))])
    assert len(tokenizer) == config.vocab_size
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / DEPLOYMENT_MANIFEST).write_text(json.dumps({"version": folder.name, "kind": "full", "base_model": "random",
                                                       "params": sum(p.numel() for p in model.parameters())}))
    os.rename(tmp, folder)
    return folder


def systems_for(deployment: Path, home: Path, threads: int, *, merged_too: bool) -> dict:
    """{label: callable(prompts) -> list of generated lengths}, every one forced to NEW_TOKENS new tokens."""
    from rxt5_assets.generation.backends import SamplingParams, load_backend
    from rxt5_assets.generation.ctranslate import CTranslate2Backend, convert_deployment, merged_model
    from rxt5_assets.training.generate import generate_ids

    params = SamplingParams(max_new_tokens=NEW_TOKENS, repetition_penalty=1.2)
    served = load_backend(deployment, kind="transformers", home=home)  # what the fallback serves (PEFT unmerged)

    def hf(model, tokenizer):
        def run(prompts):
            ids = generate_ids(model, tokenizer, prompts, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                               repetition_penalty=1.2, batch_size=len(prompts))
            # generate pads rows that stop early; with min_new_tokens each row holds start + 128 tokens
            return [len(row) - 1 for row in ids]
        return run

    systems = {"transformers fp32": hf(served.model, served.tokenizer)}
    if merged_too and hasattr(served.model, "peft_config"):
        model, tokenizer = merged_model(deployment, home=home)
        systems["transformers fp32 (merged)"] = hf(model, tokenizer)
    started = time.perf_counter()
    converted = {c.quantization: c for c in convert_deployment(deployment, ("fp32", "int8"), home=home)}
    print(f"  CTranslate2 cache: " + ", ".join(f"{q} {'converted' if c.built else 'reused'}"
                                               for q, c in converted.items())
          + f" ({time.perf_counter() - started:.1f} s)", flush=True)
    for q in ("fp32", "int8"):
        backend = CTranslate2Backend(converted[q].folder, quantization=q, threads=threads)

        def run(prompts, backend=backend):
            return [len(c[0]) for c in backend.generate_ids(prompts, params, min_new_tokens=NEW_TOKENS)]
        systems[f"ctranslate2 {q}"] = run
    return systems


def bench_model(label: str, systems: dict, batches: list[int], runs: int) -> list[dict]:
    rows = []
    for batch in batches:
        prompts = (PROMPTS * (batch // len(PROMPTS) + 1))[:batch]
        times: dict[str, list[float]] = {name: [] for name in systems}
        for name, run in systems.items():  # warm-up, and the forced-length check
            lengths = run(prompts)
            if lengths != [NEW_TOKENS] * batch:
                raise SystemExit(f"{label} / {name}: generated {lengths}, not {NEW_TOKENS} tokens each")
        load_before = os.getloadavg()[0]
        for _ in range(runs):
            for name, run in systems.items():
                t0 = time.perf_counter()
                run(prompts)
                times[name].append(time.perf_counter() - t0)
        load_after = os.getloadavg()[0]
        reference = statistics.median(times["transformers fp32"])
        for name, values in times.items():
            p50 = statistics.median(values)
            rows.append({"model": label, "system": name, "batch": batch, "runs": runs, "p50_s": round(p50, 4),
                         "p95_s": round(percentile(values, 0.95), 4),
                         "tokens_per_s": round(batch * NEW_TOKENS / p50, 1),
                         "speedup_vs_transformers": round(reference / p50, 2),
                         "load_before": round(load_before, 2), "load_after": round(load_after, 2)})
        print_rows([r for r in rows if r["batch"] == batch])
    return rows


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        print(f"| {r['model']} | {r['system']} | {r['batch']} | {r['p50_s']:.3f} | {r['p95_s']:.3f} | "
              f"{r['tokens_per_s']:.0f} | {r['speedup_vs_transformers']:.2f}× | {r['load_before']:.1f} → "
              f"{r['load_after']:.1f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=str(REPO / "bench" / "results" / "generation_latency"),
                        help="where the bench's deployments and their CTranslate2 caches live")
    parser.add_argument("--deployment", help="the demo model: a deployment folder (e.g. .rxt5/models/active); "
                                             "default: the bare shipped demo base")
    parser.add_argument("--deployment-home", help="RXT5_HOME of --deployment (where its base is found); "
                                                  "default: the bench home")
    parser.add_argument("--threads", type=int, default=None, help="threads for every system (default: all cores)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per system and batch size, demo model")
    parser.add_argument("--runs-large", type=int, default=5, help="timed runs for the 220m-shaped model")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--skip-large", action="store_true", help="only the demo model")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    import torch

    from rxt5_assets.generation.ctranslate import default_threads

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    print(f"threads {threads} (torch and CTranslate2), {os.cpu_count()} cores, load {os.getloadavg()}, "
          f"torch {torch.__version__}, {NEW_TOKENS} new tokens forced, greedy, repetition penalty 1.2", flush=True)
    print("| model | system | batch | p50 s | p95 s | tokens/s | speed-up vs transformers (p50) | load |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    rows = []
    if args.deployment:
        demo = Path(args.deployment).resolve()
        demo_home = Path(args.deployment_home) if args.deployment_home else home
        label = f"demo ({json.loads((demo / 'rxt5_deployment.json').read_text())['kind']})"
    else:
        demo, demo_home, label = base_deployment(home), home, "demo base"
    rows += bench_model(label, systems_for(demo, demo_home, threads, merged_too=True), args.batch, args.runs)
    if not args.skip_large:
        large = random_220m_deployment(home)
        rows += bench_model("random codet5p-220m", systems_for(large, home, threads, merged_too=False), args.batch,
                            args.runs_large)
    print(f"load at the end {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
