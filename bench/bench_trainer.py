"""Tokens/s of rxt5's trainer vs a plain Seq2SeqTrainer baseline, side by side in one process.

    python bench/bench_trainer.py [--steps 40] [--train-file data.jsonl] [--rounds 2]

Both runs fine-tune the same tiny T5 (same weights, LoRA q,v r16, batch 8, max lengths 320/128) on the same rows for the
same number of optimizer steps:
  * rxt5      `rxt5_assets.training.trainer.train()`: dynamic padding per batch + grouping by source+target length;
  * baseline  Seq2SeqTrainer with every example padded to max_length (`padding="max_length"`), random order.
Throughput counts only real tokens (non-pad source + target tokens) per second of training (on_train_begin to
on_train_end, checkpoint saves included in both), so padding costs time but earns nothing. Rounds alternate
baseline/rxt5 to cancel drift; the table shows each round and the medians' ratio.
Without --train-file the rows are the synthetic Rust/Elixir set used by the tests (lengths vary from a getter to a
dozen match arms).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers import (  # noqa: E402
    DataCollatorForSeq2Seq,
    PrinterCallback,
    Seq2SeqTrainer,
    TrainerCallback,
    set_seed,
)

from rxt5_assets.training.base_model import load_base_model  # noqa: E402
from rxt5_assets.training.config import TrainConfig  # noqa: E402
from rxt5_assets.training.data import load_training_examples  # noqa: E402
from rxt5_assets.training.synthetic import synthetic_examples, write_jsonl  # noqa: E402
from rxt5_assets.training.tiny import ensure_tiny_base  # noqa: E402
from rxt5_assets.training.trainer import build_training_arguments, tokenize_examples, train  # noqa: E402


class Timer(TrainerCallback):
    def __init__(self):
        self.t0 = self.t1 = None

    def on_train_begin(self, args, state, control, **kw):
        self.t0 = time.perf_counter()

    def on_train_end(self, args, state, control, **kw):
        self.t1 = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0


class CountingSeq2SeqTrainer(Seq2SeqTrainer):
    """A stock Seq2SeqTrainer that only counts real tokens (same count as rxt5's trainer)."""

    real_tokens_seen = 0

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.real_tokens_seen += int(inputs["attention_mask"].sum()) + int((inputs["labels"] != -100).sum())
        return super().training_step(model, inputs, num_items_in_batch)


def run_baseline(cfg: TrainConfig) -> tuple[int, float, int]:
    from peft import LoraConfig, TaskType, get_peft_model

    examples, _ = load_training_examples(cfg)
    set_seed(cfg.seed)
    model, tok = load_base_model(cfg.base_model, models_dir=cfg.models_dir)
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                             lora_dropout=cfg.lora_dropout, target_modules=list(cfg.lora_target_modules)))
    src = tok([e.input for e in examples], max_length=cfg.max_source_length, truncation=True, padding="max_length")
    ds = tokenize_examples(examples, tok, max_source_length=cfg.max_source_length,
                           max_target_length=cfg.max_target_length, padding="max_length")
    assert len(ds.features[0]["input_ids"]) == cfg.max_source_length == len(src["input_ids"][0])
    args = build_training_arguments(cfg, precision="fp32", has_eval=False, train_sampling_strategy="random",
                                    logging_steps=10_000, logging_first_step=False)
    timer = Timer()
    trainer = CountingSeq2SeqTrainer(model=model, args=args, train_dataset=ds, processing_class=tok,
                                     data_collator=DataCollatorForSeq2Seq(tok, model=model, label_pad_token_id=-100),
                                     callbacks=[timer])
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return trainer.real_tokens_seen, timer.seconds, trainer.state.global_step


def run_rxt5(cfg: TrainConfig) -> tuple[int, float, int]:
    timer = Timer()
    res = train(cfg, callbacks=[timer])
    return res.tokens_seen, timer.seconds, res.global_step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps per run (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=2, help="baseline/rxt5 pairs, alternating (default: %(default)s)")
    ap.add_argument("--rows", type=int, default=600, help="synthetic rows when no --train-file (default: %(default)s)")
    ap.add_argument("--train-file", type=Path, help="JSONL rows to train on instead of the synthetic set")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-source-length", type=int, default=320)
    ap.add_argument("--max-target-length", type=int, default=128)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="rxt5-bench-") as tmp:
        tmp = Path(tmp)
        train_file = a.train_file or write_jsonl(tmp / "train.jsonl", synthetic_examples(a.rows, seed=0))
        models_dir = tmp / "models"
        ensure_tiny_base(models_dir, train_file, max_seconds=None, max_steps=2)  # the weights' quality is irrelevant

        def cfg(name: str) -> TrainConfig:
            return TrainConfig(train_file=train_file, output_dir=tmp / name, models_dir=models_dir, base_model="tiny",
                               epochs=1000, max_steps=a.steps, train_batch_size=a.batch_size,
                               max_source_length=a.max_source_length, max_target_length=a.max_target_length,
                               logging_steps=10_000, precision="fp32", save_total_limit=1)

        n_rows = sum(1 for line in Path(train_file).read_text().splitlines() if line.strip())
        print(f"data: {n_rows} rows from {train_file if a.train_file else 'synthetic set'}; {a.steps} steps x batch "
              f"{a.batch_size}; max lengths {a.max_source_length}/{a.max_target_length}; torch threads "
              f"{torch.get_num_threads()}; device {'cuda' if torch.cuda.is_available() else 'cpu'}; load average "
              f"{os.getloadavg()[0]:.1f} (other processes on these cores skew the seconds)")
        rows = []
        for r in range(a.rounds):
            for name, fn in (("baseline (max_length padding, random order)", run_baseline),
                             ("rxt5 (dynamic padding + length grouping)", run_rxt5)):
                tokens, secs, steps = fn(cfg(f"{name.split()[0]}-{r}"))
                rows.append((r + 1, name, steps, tokens, secs, tokens / secs))
                print(f"  round {r + 1}: {name}: {steps} steps, {tokens} real tokens in {secs:.1f} s", flush=True)

    print()
    print("| round | trainer | steps | real tokens | seconds | real tokens/s |")
    print("|---:|---|---:|---:|---:|---:|")
    for r, name, steps, tokens, secs, tps in rows:
        print(f"| {r} | {name} | {steps} | {tokens:,} | {secs:.1f} | {tps:,.0f} |")
    base = statistics.median(t for _, n, *_, t in rows if n.startswith("baseline"))
    ours = statistics.median(t for _, n, *_, t in rows if n.startswith("rxt5"))
    print(f"\nmedian real tokens/s: baseline {base:,.0f}, rxt5 {ours:,.0f}; ratio rxt5/baseline = {ours / base:.2f}x "
          f"(target >= 2x); load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
