"""Metrics that show learning: the base's eval loss at step 0, eval loss per language and per task from one pass,
train-loss means over steps, and gradient checkpointing (same numbers, less memory)."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch
from transformers import DataCollatorForSeq2Seq, TrainerCallback

from rxt5_assets.training.base_model import load_base_model
from rxt5_assets.training.data import read_jsonl
from rxt5_assets.training.metrics import summarize_train_loss
from rxt5_assets.training.progress import MemorySink
from rxt5_assets.training.trainer import tokenize_examples, train

STEPS_PER_EPOCH = 6  # 48 training rows / batch 8


def _eval_features(cfg):
    _, tok = load_base_model("tiny", models_dir=cfg.models_dir)
    examples = read_jsonl(cfg.eval_file)
    return examples, tokenize_examples(examples, tok, max_source_length=cfg.max_source_length,
                                       max_target_length=cfg.max_target_length), tok


def test_base_eval_loss_at_step_0_and_losses_per_language_and_task(make_config):
    sink = MemorySink()
    cfg = make_config(epochs=2, logging_steps=1)
    res = train(cfg, progress=sink)

    # the base is evaluated before the first training step, as an eval record at step 0
    first = sink.records[0]
    assert (first.kind, first.step, first.epoch) == ("eval", 0, 0.0)
    assert all(r.step >= 1 for r in sink.records[1:])
    assert [r.step for r in sink.of_kind("eval")] == [0, STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    assert res.base_eval_loss == pytest.approx(first.eval_loss)

    # ...and it is exactly the base's own loss: T5's token-weighted cross-entropy over the whole eval set in one batch
    # (the LoRA update starts at zero, so the adapted model is the base at step 0)
    examples, ds, tok = _eval_features(cfg)
    base, _ = load_base_model("tiny", models_dir=cfg.models_dir)
    base.eval()
    batch = DataCollatorForSeq2Seq(tok, model=base, label_pad_token_id=-100)(ds.features)
    with torch.no_grad():
        own = float(base(**batch).loss)
    assert res.base_eval_loss == pytest.approx(own, rel=1e-4)

    # per language and per task, for exactly the groups of the eval file, finite, at every evaluation
    languages, tasks = {e.language for e in examples}, {e.task for e in examples}
    assert languages == {"rust", "elixir", "rust->elixir"} and tasks == {"implement", "translate"}
    for rec in sink.of_kind("eval"):
        assert set(rec.metrics["eval_loss_by_language"]) == languages
        assert set(rec.metrics["eval_loss_by_task"]) == tasks
        assert all(math.isfinite(v) and v > 0 for v in rec.metrics["eval_loss_by_language"].values())
    assert set(res.eval_loss_by_language) == set(res.base_eval_loss_by_language) == languages
    assert set(res.eval_loss_by_task) == tasks

    # one pass, grouped: the groups' losses weighted by their target tokens give back the overall loss
    tokens = defaultdict(int)
    for e, f in zip(examples, ds.features):
        tokens[e.language] += sum(1 for t in f["labels"] if t != -100)
    for by_language, overall in ((res.base_eval_loss_by_language, res.base_eval_loss),
                                 (res.eval_loss_by_language, res.eval_loss)):
        weighted = sum(by_language[k] * n for k, n in tokens.items()) / sum(tokens.values())
        assert weighted == pytest.approx(overall, rel=1e-6)

    # training learned, and the result says by how much, per language
    assert res.eval_loss < res.base_eval_loss
    assert res.relative_improvement == pytest.approx((res.base_eval_loss - res.eval_loss) / res.base_eval_loss)
    assert set(res.relative_improvement_by_language) == languages

    # train loss: the mean over every step and over the last epoch, not the last logging window alone
    losses = [r.loss for r in sink.of_kind("train")]
    assert len(losses) == res.global_step == 2 * STEPS_PER_EPOCH
    assert res.mean_train_loss == pytest.approx(sum(losses) / len(losses))
    assert res.train_loss_last_epoch == pytest.approx(sum(losses[STEPS_PER_EPOCH:]) / STEPS_PER_EPOCH)
    assert res.train_loss == pytest.approx(losses[-1])

    card = (res.adapter_dir / "README.md").read_text()
    assert f"| rust | 4 | {res.base_eval_loss_by_language['rust']:.4g} | {res.eval_loss_by_language['rust']:.4g} |" \
        in card


def test_train_loss_means_weight_windows_by_steps():
    history = [{"step": 1, "epoch": 0.25, "loss": 4.0}, {"step": 2, "epoch": 0.5, "loss": 3.0},
               {"step": 4, "epoch": 1.0, "loss": 2.0}, {"step": 0, "epoch": 0.0, "eval_loss": 9.0},
               {"step": 6, "epoch": 1.5, "loss": 1.5}, {"step": 7, "epoch": 1.75, "loss": 1.0}]
    s = summarize_train_loss(history)
    assert s.mean == pytest.approx((4 + 3 + 2 * 2 + 2 * 1.5 + 1) / 7)
    assert s.last_epoch_mean == pytest.approx((2 * 1.5 + 1) / 3)  # steps 5-7: the second epoch so far
    assert s.last_window == 1.0
    assert summarize_train_loss([]).mean is None


class SeesCheckpointing(TrainerCallback):
    def __init__(self):
        self.checkpointed_blocks = None

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.checkpointed_blocks = sum(1 for m in model.modules() if getattr(m, "gradient_checkpointing", False))


def test_gradient_checkpointing_trains_to_the_same_losses_and_weights(make_config, tmp_path):
    from safetensors.torch import load_file

    runs = {}
    for gc in (False, True):
        sink, seen = MemorySink(), SeesCheckpointing()
        res = train(make_config(epochs=1, max_steps=3, logging_steps=1, eval_file=None, gradient_checkpointing=gc,
                                output_dir=tmp_path / f"gc-{gc}"), progress=sink, callbacks=[seen])
        runs[gc] = ([r.loss for r in sink.of_kind("train")], load_file(res.adapter_dir / "adapter_model.safetensors"),
                    seen.checkpointed_blocks, res)
    (plain_losses, plain_w, plain_blocks, _), (gc_losses, gc_w, gc_blocks, gc_res) = runs[False], runs[True]
    assert plain_blocks == 0 and gc_blocks > 0  # checkpointing was really on, and only when asked for
    assert gc_res.hyperparameters["gradient_checkpointing"] is True
    assert all(math.isfinite(v) for v in gc_losses) and len(gc_losses) == 3
    # the first step's forward pass is the same computation; later steps agree only if the gradients reached the LoRA
    # weights through the recomputed blocks exactly as without checkpointing (dropout masks replayed)
    assert gc_losses == pytest.approx(plain_losses, rel=1e-5)
    assert plain_w.keys() == gc_w.keys()
    assert any(plain_w[k].abs().sum() > 0 for k in plain_w if "lora_B" in k)
    for k in plain_w:
        torch.testing.assert_close(gc_w[k], plain_w[k], rtol=1e-4, atol=1e-6)
