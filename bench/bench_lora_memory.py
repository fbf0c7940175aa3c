"""Peak memory of LoRA vs full fine-tuning on a randomly initialised T5 with codet5p-220m's exact shape.

    python bench/bench_lora_memory.py [--steps 3] [--batch-size 4] [--source-length 256] [--target-length 128]
                                      [--variants full,lora,lora-gc]

Each variant runs in its own subprocess (so the peaks cannot mix): build the model (d_model 768, 12+12 layers, 12 heads,
d_ff 3072, vocab 32100, random weights: nothing is downloaded), wrap it with LoRA (q,v r16, as rxt5 trains) or not,
optionally with gradient checkpointing (`-gc`: non-reentrant, as `--gradient-checkpointing` sets it up through the
Trainer), and run a few AdamW steps on random token batches. Reported: peak RSS (ru_maxrss) of the process, RSS after
building the model (weights alone), and the difference (what training adds: gradients, optimizer state, activations). The seed
claims "LoRA fine-tuning reduces memory usage by 80%".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


VARIANTS = {"full": "full fine-tuning", "lora": "LoRA", "full-gc": "full + gradient checkpointing",
            "lora-gc": "LoRA + gradient checkpointing"}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def child(variant: str, steps: int, batch: int, src_len: int, tgt_len: int, seed: int) -> dict:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    rss0 = _rss_mb()
    cfg = T5Config(vocab_size=32100, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_decoder_layers=12,
                   num_heads=12, feed_forward_proj="relu", dropout_rate=0.1, pad_token_id=0, eos_token_id=2,
                   bos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=True)
    model = T5ForConditionalGeneration(cfg)
    if variant.startswith("lora"):
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=16, lora_alpha=32,
                                                 lora_dropout=0.05, target_modules=["q", "v"]))
    if variant.endswith("-gc"):
        # what the Trainer calls for activation_checkpointing=True (through the PeftModel onto the T5); it also
        # makes the input embeddings require grad, so gradients reach LoRA weights through the frozen blocks
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    total = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    rss_model = _rss_mb()
    g = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        ids = torch.randint(5, 32100, (batch, src_len), generator=g)
        labels = torch.randint(5, 32100, (batch, tgt_len), generator=g)
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
    checkpointed = sum(1 for m in model.modules() if getattr(m, "gradient_checkpointing", False))
    assert checkpointed > 0 if variant.endswith("-gc") else checkpointed == 0, (variant, checkpointed)
    return {"variant": variant, "trainable": trainable, "total": total, "rss_start_mb": rss0,
            "checkpointed_modules": checkpointed,
            "rss_model_mb": rss_model, "peak_mb": _peak_mb(), "rss_end_mb": _rss_mb(),
            "s_per_step": sum(times[1:]) / max(1, len(times) - 1) if len(times) > 1 else times[0],
            "threads": torch.get_num_threads()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--source-length", type=int, default=256)
    ap.add_argument("--target-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default="full,lora,lora-gc",
                    help="comma-separated, from full, lora, full-gc, lora-gc (default: %(default)s); full is the "
                         "baseline")
    ap.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.steps, a.batch_size, a.source_length, a.target_length, a.seed)))
        return 0

    variants = [v for v in a.variants.split(",") if v]
    if "full" not in variants or any(v not in VARIANTS for v in variants):
        ap.error(f"--variants must include full and use only {', '.join(VARIANTS)}")
    results = {}
    for variant in variants:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--child", variant, "--steps", str(a.steps), "--batch-size",
                              str(a.batch_size), "--source-length", str(a.source_length), "--target-length",
                              str(a.target_length), "--seed", str(a.seed)],
                             capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            return out.returncode
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {variant}: done in {time.perf_counter() - t:.0f} s", flush=True)

    print(f"\nrandom T5 with codet5p-220m's shape; {a.steps} AdamW steps, batch {a.batch_size} x "
          f"({a.source_length} in / {a.target_length} out), fp32, CPU ({results['full']['threads']} threads)\n")
    f = results["full"]
    print("| variant | trainable params | RSS after model | peak RSS | peak - model (training overhead) | "
          "peak / full | s/step |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for v in variants:
        r = results[v]
        print(f"| {VARIANTS[v]} | {r['trainable']:,} ({100 * r['trainable'] / r['total']:.2f}%) | "
              f"{r['rss_model_mb']:,.0f} MB | {r['peak_mb']:,.0f} MB | {r['peak_mb'] - r['rss_model_mb']:,.0f} MB | "
              f"{r['peak_mb'] / f['peak_mb']:.2f} | {r['s_per_step']:.1f} |")
    print()
    for v in variants:
        if v != "full":
            r = results[v]
            print(f"{VARIANTS[v]} / full: peak RSS {r['peak_mb'] / f['peak_mb']:.2f}, training overhead "
                  f"{(r['peak_mb'] - r['rss_model_mb']) / (f['peak_mb'] - f['rss_model_mb']):.2f}, "
                  f"s/step {r['s_per_step'] / f['s_per_step']:.2f}")
    if "lora" not in results:
        return 0
    l_ = results["lora"]
    peak_cut = 1 - l_["peak_mb"] / f["peak_mb"]
    over_cut = 1 - (l_["peak_mb"] - l_["rss_model_mb"]) / (f["peak_mb"] - f["rss_model_mb"])
    print(f"\npeak RSS: LoRA / full = {l_['peak_mb'] / f['peak_mb']:.2f} (LoRA cuts peak memory by {100 * peak_cut:.0f}%; "
          f"the seed claims 80%)")
    print(f"training overhead (peak - weights): LoRA / full = "
          f"{(l_['peak_mb'] - l_['rss_model_mb']) / (f['peak_mb'] - f['rss_model_mb']):.2f} "
          f"(cut by {100 * over_cut:.0f}%)")
    wgo = {v: (results[v]["total"] * 4 + results[v]["trainable"] * 4 * 3) / 2**20 for v in ("full", "lora")}
    print(f"weights + gradients + AdamW state alone (fp32, computed): full {wgo['full']:,.0f} MB, LoRA "
          f"{wgo['lora']:,.0f} MB (cut by {100 * (1 - wgo['lora'] / wgo['full']):.0f}%); activations, which LoRA "
          f"does not shrink, make up the rest of the peak")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
