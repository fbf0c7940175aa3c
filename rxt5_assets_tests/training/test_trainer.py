from __future__ import annotations

import json
import logging
import math
from collections import Counter

import pytest
import torch
from transformers import TrainerCallback

from rxt5_assets.training.generate import generate, generate_ids, load_trained, read_training_metadata
from rxt5_assets.training.progress import MemorySink, ProgressRecord
from rxt5_assets.training.trainer import checkpoint_step, last_checkpoint, resolve_precision, train

from .conftest import tiny_test_spec

STEPS_PER_EPOCH = 6  # 48 training rows / batch 8


class Capture(TrainerCallback):
    """Keeps the in-memory model and what the sink held at each point of training."""

    def __init__(self, sink: MemorySink):
        self.sink = sink
        self.model = None
        self.sink_len_at_step: dict[int, int] = {}
        self.sink_len_at_train_end: int | None = None

    def on_step_end(self, args, state, control, **kw):
        self.sink_len_at_step[state.global_step] = len(self.sink)

    def on_train_end(self, args, state, control, model=None, **kw):
        self.sink_len_at_train_end = len(self.sink)
        self.model = model


def _prompts():
    return ["// rust: implement\n/// Returns the amount of this ledger.\npub fn amount(&self) -> i64",
            "# elixir: implement\n@doc \"Returns the name of a user.\"\ndef name(%User{name: name})"]


def test_end_to_end_lora_adapter_model_card_and_progress(make_config):
    sink = MemorySink()
    cap = Capture(sink)
    cfg = make_config(epochs=3)
    res = train(cfg, callbacks=[cap], progress=sink)

    # result
    assert res.global_step == 3 * STEPS_PER_EPOCH
    assert math.isclose(res.epochs_done, 3.0)
    assert res.is_lora and res.resumed_from_step is None
    assert 0 < res.trainable_params < res.total_params / 5
    assert res.tokens_seen > 0 and res.tokens_per_second > 0 and res.train_seconds > 0
    assert res.eval_loss is not None and res.train_loss is not None
    assert res.language_mix["per_language"] == {"elixir": 16, "rust": 16, "rust->elixir": 16}
    assert res.precision == ("fp32" if not torch.cuda.is_available() else res.precision)
    evals = [h for h in res.loss_history if "eval_loss" in h]
    assert [h["step"] for h in evals] == [0, 6, 12, 18]  # the base before training, then one eval per epoch

    # the adapter folder: adapter only, plus tokenizer, card and metadata
    a = res.adapter_dir
    assert a == cfg.output_dir / "adapter"
    for f in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md", "rxt5_training.json"):
        assert (a / f).is_file(), f
    assert not (a / "model.safetensors").exists()
    acfg = json.loads((a / "adapter_config.json").read_text())
    assert acfg["peft_type"] == "LORA" and acfg["task_type"] == "SEQ_2_SEQ_LM" and acfg["r"] == 16
    assert sorted(acfg["target_modules"]) == ["q", "v"]
    from safetensors import safe_open

    with safe_open(a / "adapter_model.safetensors", "pt") as fh:
        keys = list(fh.keys())
        assert keys and all("lora_" in k for k in keys)
        assert any(fh.get_tensor(k).abs().sum() > 0 for k in keys if "lora_B" in k)  # B starts at 0: trained
    card = (a / "README.md").read_text()
    for needle in ("## Data", "| rust | 16 | 16 | 4 |", "rust->elixir", "## Hyperparameters", "learning_rate",
                   "| eval loss |", f"{res.eval_loss:.4g}", "### Eval loss per epoch", "library_name: \"peft\"",
                   "| base eval loss (before training) |", "### Eval loss per language", "### Eval loss per task",
                   "| base (before training) | 0 |", "| mean train loss |"):
        assert needle in card, needle
    meta = read_training_metadata(a)
    assert meta["base_model"] == "tiny" and meta["base_fingerprint"] == res.base_fingerprint

    # progress: records arrived while training ran, one per logging step and per epoch eval
    assert cap.sink_len_at_step[2] >= 1  # logging_first_step + step 2 logged before step 3 started
    assert 0 < cap.sink_len_at_step[STEPS_PER_EPOCH * 2] < cap.sink_len_at_train_end
    train_recs, eval_recs = sink.of_kind("train"), sink.of_kind("eval")
    assert [r.step for r in train_recs] == [1] + list(range(2, 19, 2))
    assert [r.step for r in eval_recs] == [0, 6, 12, 18]
    assert all(isinstance(r, ProgressRecord) and r.loss > 0 and r.learning_rate is not None for r in train_recs)
    assert [r.training_time_seconds for r in sink.records] == sorted(r.training_time_seconds for r in sink.records)
    assert eval_recs[-1].eval_loss == pytest.approx(res.eval_loss)

    # the saved adapter reloads onto the identical base and generates exactly the same ids
    assert cap.model is not None
    prompts = _prompts()
    mem_ids = generate_ids(cap.model, *_tok(a), prompts, max_new_tokens=24)
    model2, tok2 = load_trained(a, cfg.models_dir)
    from peft import PeftModel

    assert isinstance(model2, PeftModel)
    assert generate_ids(model2, tok2, prompts, max_new_tokens=24) == mem_ids
    assert all(len(ids) > 2 for ids in mem_ids)
    with torch.no_grad():  # and the adapter is not a no-op: it changes the base's outputs
        enc = tok2(prompts[:1], return_tensors="pt")
        dec = torch.zeros((1, 1), dtype=torch.long)
        with_adapter = model2(**enc, decoder_input_ids=dec).logits
        with model2.disable_adapter():
            without = model2(**enc, decoder_input_ids=dec).logits
    assert not torch.allclose(with_adapter, without)
    assert all(isinstance(s, str) for s in generate(model2, tok2, prompts, max_new_tokens=8))


def _tok(adapter_dir):
    from transformers import AutoTokenizer

    return (AutoTokenizer.from_pretrained(adapter_dir),)


def test_loss_falls_on_a_small_overfit_set(make_config, data_dir):
    sink = MemorySink()
    res = train(make_config(train_file=data_dir / "small.jsonl", eval_file=None, epochs=12, learning_rate=1e-2,
                            logging_steps=1, lora_r=8), progress=sink)
    losses = [r.loss for r in sink.of_kind("train")]
    assert len(losses) == res.global_step == 24
    first, last = sum(losses[:2]) / 2, sum(losses[-2:]) / 2
    assert last < 0.75 * first, (first, last)
    assert res.eval_loss is None and not sink.of_kind("eval")


class StopAfterFirstCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kw):
        control.should_training_stop = True


class CrashAfterFirstCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kw):
        raise KeyboardInterrupt("simulated crash after the first checkpoint")


@pytest.mark.parametrize("interrupt", ["stop", "crash"])
def test_resume_continues_from_the_last_checkpoint(make_config, interrupt):
    sink = MemorySink()
    cfg = make_config(epochs=3)
    if interrupt == "stop":
        first = train(cfg, callbacks=[StopAfterFirstCheckpoint()], progress=sink)
        assert first.global_step == STEPS_PER_EPOCH
    else:
        with pytest.raises(KeyboardInterrupt):
            train(cfg, callbacks=[CrashAfterFirstCheckpoint()], progress=sink)
    ckpt = last_checkpoint(cfg.output_dir)
    assert ckpt is not None and checkpoint_step(ckpt) == STEPS_PER_EPOCH
    state = json.loads((ckpt / "rxt5_state.json").read_text())
    assert state["tokens_seen"] > 0
    if interrupt == "crash":  # records logged after the checkpoint would be duplicated by the resumed run...
        sink.record(ProgressRecord("train", 1.2, STEPS_PER_EPOCH + 1, 1.0, 1e-3, 99.0))

    res = train(make_config(epochs=3, resume=True), progress=sink)
    assert sink.resumes == [STEPS_PER_EPOCH]  # ...so the sink is told to drop them, before training continues
    assert res.resumed_from_step == STEPS_PER_EPOCH
    assert res.global_step == 3 * STEPS_PER_EPOCH and math.isclose(res.epochs_done, 3.0)
    assert res.tokens_seen > state["tokens_seen"]
    keys = Counter((r.kind, r.step) for r in sink.records)
    assert max(keys.values()) == 1, keys  # no step twice (nor the base's step-0 eval: it is not repeated)
    assert [r.step for r in sink.of_kind("eval")] == [0, 6, 12, 18]
    # the base's loss survives the resume through the checkpoint's log history
    assert res.base_eval_loss == pytest.approx(sink.of_kind("eval")[0].eval_loss)
    train_steps = [r.step for r in sink.of_kind("train")]
    assert train_steps == sorted(train_steps) and train_steps[-1] == 18
    assert all(r.step > STEPS_PER_EPOCH for r in sink.records[-3:])
    assert (res.adapter_dir / "adapter_model.safetensors").is_file()


def test_resume_without_checkpoint_starts_fresh_and_says_so(make_config, caplog):
    sink = MemorySink()
    with caplog.at_level(logging.WARNING, logger="rxt5_assets.training.trainer"):
        res = train(make_config(epochs=1, resume=True, eval_file=None), progress=sink)
    assert res.resumed_from_step is None and sink.resumes == []
    assert res.global_step == STEPS_PER_EPOCH
    assert any("holds no checkpoint: starting fresh" in r.getMessage() for r in caplog.records)


def test_full_fine_tuning_saves_the_whole_model(make_config):
    res = train(make_config(lora=False, epochs=1, max_steps=4, learning_rate=1e-3))
    a = res.adapter_dir
    assert not res.is_lora and res.trainable_params == res.total_params
    assert res.global_step == 4
    assert (a / "model.safetensors").is_file() and (a / "config.json").is_file()
    assert not (a / "adapter_config.json").exists()
    model, tok = load_trained(a, models_dir="/nonexistent")
    assert type(model).__name__ == "T5ForConditionalGeneration"
    assert len(generate_ids(model, tok, _prompts()[:1], max_new_tokens=4)[0]) >= 2
    assert "fully fine-tuned model" in (a / "README.md").read_text()


def test_cross_language_off_and_weights_reach_the_trainer(make_config):
    res = train(make_config(epochs=1, max_steps=2, cross_language_learning=False, rust_weight=2.0, eval_file=None))
    assert res.language_mix["per_language"] == {"elixir": 16, "rust": 32}
    assert res.language_mix["dropped_cross_language"] == 16


def test_adapter_refuses_a_different_base(make_config, tmp_path):
    from rxt5_assets.training.generate import AdapterMismatchError
    from rxt5_assets.training.tiny import ensure_tiny_base

    res = train(make_config(epochs=1, max_steps=1, eval_file=None))
    other = tmp_path / "other-models"
    ensure_tiny_base(other, make_config().train_file, max_seconds=None, max_steps=1, seed=123, spec=tiny_test_spec())
    with pytest.raises(AdapterMismatchError, match="fingerprint"):
        load_trained(res.adapter_dir, other)


def test_precision_resolution_on_this_machine():
    if torch.cuda.is_available():
        pytest.skip("CPU-only expectations")
    assert resolve_precision("auto") == "fp32"
    assert resolve_precision("fp16") == "fp32"
    assert resolve_precision("bf16") == "fp32"
    assert resolve_precision("fp32") == "fp32"


def test_dynamic_padding_and_length_grouping_are_wired(make_config):
    """Unpadded features, batches padded only to their own longest row, sampler grouped on source + target length."""
    from transformers import DataCollatorForSeq2Seq
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.data import load_training_examples
    from rxt5_assets.training.trainer import RxT5Seq2SeqTrainer, build_training_arguments, tokenize_examples

    cfg = make_config()
    examples, _ = load_training_examples(cfg)
    model, tok = load_base_model("tiny", models_dir=cfg.models_dir)
    ds = tokenize_examples(examples, tok, max_source_length=cfg.max_source_length,
                           max_target_length=cfg.max_target_length)
    src_lens = {len(f["input_ids"]) for f in ds.features}
    assert len(src_lens) > 5 and max(src_lens) <= cfg.max_source_length  # not padded, truncated
    full_lengths = [len(ids) for ids in tok(text_target=[e.target for e in examples])["input_ids"]]
    for f, full in zip(ds.features, full_lengths):  # </s> only where the target really ends, never after a cut
        assert len(f["labels"]) == min(full, cfg.max_target_length)
        assert (f["labels"][-1] == tok.eos_token_id) == (full <= cfg.max_target_length)
    assert ds.lengths == [len(f["input_ids"]) + len(f["labels"]) for f in ds.features]
    trainer = RxT5Seq2SeqTrainer(model=model, args=build_training_arguments(cfg, precision="fp32", has_eval=False),
                                 train_dataset=ds, processing_class=tok,
                                 data_collator=DataCollatorForSeq2Seq(tok, model=model, label_pad_token_id=-100))
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthGroupedSampler) and sampler.lengths == ds.lengths
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["input_ids"].shape[1] == int(batch["attention_mask"].sum(1).max())  # padded to the batch's longest
    assert int((batch["labels"] != -100).sum(1).max()) == batch["labels"].shape[1]


def test_continuing_an_adapter_starts_from_its_weights_and_refuses_another_base(make_config, tmp_path):
    """Continuous learning: a retrain with init_adapter starts where the served adapter ended — its step-0 eval is the
    first adapter's final eval, not the base's — and the first adapter's files are left as they were."""
    from rxt5_assets.training.config import TrainConfigError
    from rxt5_assets.training.tiny import ensure_tiny_base

    first = train(make_config(epochs=2, output_dir=tmp_path / "first"))
    before = {p.name: p.read_bytes() for p in first.adapter_dir.iterdir() if p.is_file()}
    second = train(make_config(epochs=1, max_steps=1, output_dir=tmp_path / "second", init_adapter=first.adapter_dir))
    start = next(h for h in second.loss_history if "eval_loss" in h and h["step"] == 0)["eval_loss"]
    base_start = next(h for h in first.loss_history if "eval_loss" in h and h["step"] == 0)["eval_loss"]
    assert abs(start - first.eval_loss) < 1e-4 and abs(start - base_start) > 1e-3, (start, first.eval_loss, base_start)
    assert second.hyperparameters["init_adapter"] == str(first.adapter_dir)
    assert {p.name: p.read_bytes() for p in first.adapter_dir.iterdir() if p.is_file()} == before

    other = tmp_path / "other-models"
    ensure_tiny_base(other, make_config().train_file, max_seconds=None, max_steps=1, seed=123, spec=tiny_test_spec())
    with pytest.raises(TrainConfigError, match="same base"):
        train(make_config(max_steps=1, output_dir=tmp_path / "third", models_dir=other, init_adapter=first.adapter_dir))
    with pytest.raises(TrainConfigError, match="adapter_config.json"):
        make_config(init_adapter=tmp_path)


def test_a_cut_target_is_not_taught_to_end(tmp_path):
    """A target longer than max_target_length keeps its first tokens and no </s>: the tokenizer's own truncation
    appends </s> after the cut, which taught the model to stop in the middle of an item."""
    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.trainer import target_ids

    _, tok = load_base_model("demo", models_dir=tmp_path)
    long_item = "pub struct Ledger {\n" + "".join(f"    pub field_{i}: u64,\n" for i in range(40)) + "}"
    short_item = "pub struct Id(u64);"
    cut, whole = target_ids(tok, [long_item, short_item], max_length=32)
    full = tok(text_target=long_item)["input_ids"]
    assert len(full) > 32 and cut == full[:32] and tok.eos_token_id not in cut
    assert whole == tok(text_target=short_item)["input_ids"] and whole[-1] == tok.eos_token_id


def test_trainable_tokens_train_the_embeddings_and_survive_the_merge(make_config, tmp_path):
    """lora_trainable_tokens: the N most frequent training tokens' embedding rows train (and only they), the adapter
    reloads, and merge_and_unload keeps the embedding tied to lm_head with the same loss (serving merges)."""
    from rxt5_assets.training.base_model import load_base_model
    from rxt5_assets.training.data import load_training_examples
    from rxt5_assets.training.trainer import most_frequent_tokens, tokenize_examples

    cfg = make_config(epochs=1, lora_trainable_tokens=64, output_dir=tmp_path / "tokens")
    result = train(cfg)
    adapter_config = json.loads((result.adapter_dir / "adapter_config.json").read_text())
    examples, _ = load_training_examples(cfg)
    base, tok = load_base_model("tiny", models_dir=cfg.models_dir)
    ds = tokenize_examples(examples, tok, max_source_length=cfg.max_source_length,
                           max_target_length=cfg.max_target_length)
    chosen = most_frequent_tokens(ds, 64, tok.pad_token_id)
    assert len(chosen) == 64 and adapter_config["trainable_token_indices"] == chosen
    assert read_training_metadata(result.adapter_dir)["hyperparameters"]["lora_trainable_tokens"] == 64

    model, tok = load_trained(result.adapter_dir, cfg.models_dir)
    model.eval()
    enc = tok(_prompts(), return_tensors="pt", padding=True)
    labels = tok(text_target=["pub fn amount(&self) -> i64 { self.amount }", "def name(%User{name: name}), do: name"],
                 return_tensors="pt", padding=True).input_ids
    labels[labels == tok.pad_token_id] = -100
    with torch.no_grad():
        before = model(**enc, labels=labels).loss.item()
        merged = model.merge_and_unload()
        after = merged(**enc, labels=labels).loss.item()
        base_embeddings = base.get_input_embeddings().weight
        changed = (merged.get_input_embeddings().weight != base_embeddings).any(dim=1).nonzero().flatten().tolist()
    assert after == pytest.approx(before, abs=1e-5)
    assert merged.get_input_embeddings().weight.data_ptr() == merged.get_output_embeddings().weight.data_ptr()
    assert changed and set(changed) <= set(chosen)  # only the chosen rows moved

    # continuous learning continues the token rows too (they are trainable again, and move)
    second = train(make_config(epochs=1, max_steps=2, output_dir=tmp_path / "continued",
                               init_adapter=result.adapter_dir))
    again, _ = load_trained(second.adapter_dir, cfg.models_dir)
    delta = lambda m: next(p for n, p in m.named_parameters() if "trainable_tokens_delta" in n)  # noqa: E731
    first_model, _ = load_trained(result.adapter_dir, cfg.models_dir)
    assert not torch.equal(delta(again), delta(first_model))
