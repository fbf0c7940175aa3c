"""`train(config)`: LoRA (or full) fine-tuning of a seq2seq base with transformers' Seq2SeqTrainer.

What it does beyond a stock Seq2SeqTrainer setup:
* dynamic padding: examples are tokenised without padding (truncated to the max lengths) and padded per batch by
  `DataCollatorForSeq2Seq(label_pad_token_id=-100)`;
* length grouping on source + target length (transformers' own grouping looks at the source only);
* real tokens seen (non-pad source + target tokens) and training time, carried across resumes in `rxt5_state.json`
  inside each checkpoint;
* progress records to a `ProgressSink` while training runs, and `sink.resumed(step)` before a resume;
* the base's eval loss before the first step (not repeated on a resume), and eval loss per language and per task in
  one pass over the eval set (`metrics.grouped_eval_loss`) at step 0 and after every epoch;
* the training loss logged at every epoch end and at the last step, so its means (`metrics.summarize_train_loss`)
  cover every step;
* optional gradient (activation) checkpointing;
* several processes (torchrun / accelerate launch, DDP): every rank trains on its shard, rank 0 alone records
  progress and writes the adapter; evaluation and token counts are summed across ranks;
* `output_dir/adapter/`: the PEFT adapter (or the full model), tokenizer, model card and `rxt5_training.json`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import (
    DataCollatorForSeq2Seq,
    PrinterCallback,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    set_seed,
)
from transformers.trainer_pt_utils import LengthGroupedSampler

from rxt5_assets.training.base_model import load_base_model, resolve_base_path
from rxt5_assets.training.config import TINY, TrainConfig, TrainConfigError
from rxt5_assets.training.data import Example, load_eval_examples, load_training_examples
from rxt5_assets.training.distributed import sum_across_processes
from rxt5_assets.training.metrics import grouped_eval_loss, relative_improvement, summarize_train_loss
from rxt5_assets.training.model_card import render_model_card
from rxt5_assets.training.progress import FanOutSink, LoggingSink, ProgressCallback, ProgressSink
from rxt5_assets.training.tiny import ensure_tiny_base, weights_fingerprint

log = logging.getLogger(__name__)

ADAPTER_DIRNAME = "adapter"
TRAINING_METADATA = "rxt5_training.json"
CHECKPOINT_STATE = "rxt5_state.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainResult:
    output_dir: Path
    adapter_dir: Path
    base_model: str  # as configured: 'tiny', an HF id, or a path
    base_model_path: str  # what was loaded (the tiny base's folder for 'tiny')
    base_fingerprint: str
    is_lora: bool
    global_step: int
    epochs_done: float
    train_loss: float | None  # mean training loss of the last logging window (noisy: a few batches)
    mean_train_loss: float | None  # step-weighted mean over every logged step, across resumes
    eval_loss: float | None  # token-weighted mean cross-entropy on the eval file after training
    # {"step", "epoch", "loss", "learning_rate"} and {"step", "epoch", "eval_loss", "eval_loss_by_language",
    # "eval_loss_by_task"} entries; the eval entry at step 0 is the base before any training
    loss_history: list[dict[str, Any]]
    tokens_seen: int  # real (non-pad) source + target tokens, across resumes
    train_seconds: float  # across resumes
    tokens_per_second: float
    resumed_from_step: int | None
    language_mix: dict[str, Any]
    eval_examples: int
    trainable_params: int
    total_params: int
    precision: str  # resolved: "bf16" | "fp16" | "fp32"
    device: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    train_loss_last_epoch: float | None = None  # step-weighted mean over the last (possibly partial) epoch
    eval_loss_by_language: dict[str, float] = field(default_factory=dict)  # rust, elixir, rust->elixir, ...
    eval_loss_by_task: dict[str, float] = field(default_factory=dict)
    base_eval_loss: float | None = None  # the base (adapter still a no-op) before the first step
    base_eval_loss_by_language: dict[str, float] = field(default_factory=dict)
    base_eval_loss_by_task: dict[str, float] = field(default_factory=dict)
    relative_improvement: float | None = None  # (base - final) / base eval loss
    relative_improvement_by_language: dict[str, float] = field(default_factory=dict)
    relative_improvement_by_task: dict[str, float] = field(default_factory=dict)
    world_size: int = 1  # training processes (DDP ranks)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["output_dir"], d["adapter_dir"] = str(self.output_dir), str(self.adapter_dir)
        return d


# ---------------------------------------------------------------------------------------------------------------------
# helpers

def resolve_precision(requested: str) -> str:
    """'auto' -> bf16 on a CUDA GPU with bf16 support, else fp32. bf16/fp16 without CUDA fall back to fp32 (warning):
    fp16 matmuls are not implemented on CPU and bf16 autocast on CPU is slower than fp32 on common CPUs."""
    cuda = torch.cuda.is_available()
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    if requested == "auto":
        return "bf16" if bf16_ok else "fp32"
    if requested == "bf16" and not bf16_ok:
        log.warning("precision bf16 requested but %s: training in fp32", "this GPU lacks bf16" if cuda else "no CUDA")
        return "fp32"
    if requested == "fp16" and not cuda:
        log.warning("precision fp16 requested but there is no CUDA device (fp16 fails on CPU): training in fp32")
        return "fp32"
    return requested


def last_checkpoint(output_dir: Path) -> Path | None:
    """The highest-step *complete* checkpoint (one whose trainer_state.json was written) in output_dir."""
    if not output_dir.is_dir():
        return None
    found = []
    for p in output_dir.iterdir():
        m = _CHECKPOINT_RE.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").is_file():
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def checkpoint_step(ckpt: Path) -> int:
    return int(json.loads((ckpt / "trainer_state.json").read_text())["global_step"])


class Seq2SeqExamples(torch.utils.data.Dataset):
    """Tokenised, unpadded examples; `lengths` (source + target tokens) drive the length-grouped sampler, and each
    example's language and task group the eval loss."""

    def __init__(self, features: list[dict[str, list[int]]], languages: Sequence[str] | None = None,
                 tasks: Sequence[str] | None = None):
        self.features = features
        self.lengths = [len(f["input_ids"]) + len(f["labels"]) for f in features]
        self.languages = list(languages) if languages is not None else None
        self.tasks = list(tasks) if tasks is not None else None

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.features[i]


def _self_training_rows(config, args, train_examples, model, tokenizer, base_path, fingerprint, output_dir: Path,
                        is_main: bool) -> tuple[list, dict]:
    """The base's valid samples for the training split's item prompts (training.self_training): rank 0 samples and
    writes them to the run folder, the other ranks (and a resumed run) read that file."""
    from rxt5_assets.training.self_training import (SELF_TRAINING_FILE, read_rows, sampling_params,
                                                    self_training_examples, write_rows)

    path = output_dir / SELF_TRAINING_FILE
    with args.main_process_first(local=False, desc="self-training samples"):
        if is_main and not (config.resume and path.exists()):
            params = sampling_params(config.self_training_k, max_new_tokens=config.max_target_length,
                                     seed=config.seed)
            rows, stats = self_training_examples(train_examples, model=model, tokenizer=tokenizer,
                                                 base_path=Path(base_path), fingerprint=fingerprint,
                                                 models_dir=Path(config.models_dir), params=params,
                                                 max_source_length=config.max_source_length)
            write_rows(path, rows, stats)
        rows, stats = read_rows(path)
    return rows, stats


def tokenize_examples(examples: Sequence[Example], tokenizer, *, max_source_length: int,
                      max_target_length: int, padding: bool | str = False) -> Seq2SeqExamples:
    """Tokenise inputs and targets, truncated to the max lengths; unpadded unless `padding` says otherwise."""
    if not examples:
        return Seq2SeqExamples([])
    src = tokenizer([e.input for e in examples], max_length=max_source_length, truncation=True, padding=padding)
    tgt = target_ids(tokenizer, [e.target for e in examples], max_target_length)
    width = max_target_length if padding == "max_length" else max(map(len, tgt))
    feats = []
    for ids, mask, labels in zip(src["input_ids"], src["attention_mask"], tgt):
        if padding:  # bench_trainer's baseline pads to a fixed width; the loss ignores -100
            labels = labels + [-100] * (width - len(labels))
        feats.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return Seq2SeqExamples(feats, languages=[e.language for e in examples], tasks=[e.task for e in examples])


def target_ids(tokenizer, targets: Sequence[str], max_length: int) -> list[list[int]]:
    """Label ids per target, at most `max_length`. A target longer than that is cut WITHOUT an end-of-sequence token:
    the tokenizer's own truncation puts </s> after the cut, which taught the models to stop in the middle of an item
    (46 % of the demo's Rust `implement` targets and 41 % of Elixir's are longer than 128 tokens). Without it the loss
    still covers the prefix, and </s> is only ever learned where an item really ends."""
    ids = tokenizer(text_target=list(targets))["input_ids"]
    return [row if len(row) <= max_length else row[:max_length] for row in ids]


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """LengthGroupedSampler whose shuffle is seeded by (seed, epoch) from its own generator.

    Under DDP accelerate hands every rank the same sampler and takes every N-th batch of its order, so the order must
    be identical on all ranks; the global RNG is not (dropout draws as many numbers as each rank's batch has
    elements). Measured before this: two ranks overlapped in epoch 2 and skipped 6% of its tokens. Seeding by epoch
    also gives a resumed run the order the uninterrupted one had (the Trainer calls set_epoch every epoch).
    """

    def __init__(self, batch_size: int, *, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths, generator=torch.Generator())
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator.manual_seed(self.seed + self.epoch)
        return super().__iter__()


class RxT5Seq2SeqTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer that groups by source + target length and counts real tokens."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.real_tokens_seen = 0

    def _get_train_sampler(self, train_dataset=None):
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy == "group_by_length" and isinstance(ds, Seq2SeqExamples):
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeededLengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=ds.lengths, seed=seed)
        return super()._get_train_sampler(train_dataset)

    def training_step(self, model, inputs, num_items_in_batch=None):
        n = 0
        if "attention_mask" in inputs:
            n += int(inputs["attention_mask"].sum())
        if "labels" in inputs:
            n += int((inputs["labels"] != -100).sum())
        self.real_tokens_seen += n
        return super().training_step(model, inputs, num_items_in_batch)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval", **gen_kwargs):
        """Eval loss overall, per language and per task from one pass over the eval set (Seq2SeqTrainer's own
        evaluation for anything else: generation, datasets without groups)."""
        dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        if not isinstance(dataset, Seq2SeqExamples) or dataset.languages is None or self.args.predict_with_generate:
            return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix,
                                    **gen_kwargs)
        start = time.time()
        grouped = grouped_eval_loss(self.model, dataset.features, dataset.languages, dataset.tasks,
                                    self.data_collator, batch_size=self.args.per_device_eval_batch_size,
                                    device=self.args.device, autocast=self.compute_loss_context_manager,
                                    rank=self.args.process_index, world_size=self.args.world_size)
        runtime = time.time() - start
        p = metric_key_prefix
        metrics: dict[str, Any] = {
            f"{p}_loss": grouped.loss, f"{p}_loss_by_language": grouped.by_language,
            f"{p}_loss_by_task": grouped.by_task, f"{p}_tokens": grouped.tokens,
            f"{p}_runtime": round(runtime, 4),
            f"{p}_samples_per_second": round(grouped.examples / runtime, 3) if runtime > 0 else None,
        }
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


class _CheckpointStateCallback(TrainerCallback):
    """Writes tokens seen and training time into every checkpoint, so both keep counting across resumes."""

    def __init__(self, trainer_ref: list, progress: ProgressCallback, tokens_offset: int, device) -> None:
        self.trainer_ref = trainer_ref
        self.progress = progress
        self.tokens_offset = tokens_offset
        self.device = device

    def tokens(self) -> int:
        """Tokens seen by every rank together. A collective under DDP: all ranks call it at the same points."""
        local = self.trainer_ref[0].real_tokens_seen if self.trainer_ref else 0
        return self.tokens_offset + int(sum_across_processes([local], device=self.device)[0])

    def on_save(self, args, state, control, **kwargs):
        tokens = self.tokens()  # on every rank, before the rank-0-only write
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and ckpt.is_dir():
            (ckpt / CHECKPOINT_STATE).write_text(json.dumps(
                {"global_step": state.global_step, "tokens_seen": tokens,
                 "training_time_seconds": round(self.progress.elapsed(), 3)}) + "\n")


class _LogEpochEndsCallback(TrainerCallback):
    """Logs the training loss at every epoch end and at the last step too: logging windows then never straddle two
    epochs and no step is left out, so the means over all steps and over the last epoch are exact."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_log = True

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_log = True


class _NullSink:
    def record(self, rec) -> None:
        pass

    def resumed(self, from_step: int) -> None:
        pass


def _continue_adapter(base, adapter_dir: Path, base_fingerprint: str):
    """The base with `adapter_dir`'s LoRA weights loaded trainable: a retrain that continues the served adapter."""
    from peft import PeftModel

    meta_file = Path(adapter_dir) / TRAINING_METADATA
    expected = json.loads(meta_file.read_text()).get("base_fingerprint") if meta_file.is_file() else None
    if expected and expected != base_fingerprint:
        raise TrainConfigError(
            f"init_adapter {adapter_dir} was trained on base weights {expected}, not on this base ({base_fingerprint}): "
            "continue only an adapter of the same base, or start fresh (no init_adapter)")
    log.info("continuing from adapter %s", adapter_dir)
    return PeftModel.from_pretrained(base, adapter_dir, is_trainable=True)


def most_frequent_tokens(dataset: Seq2SeqExamples, n: int, pad_id: int) -> list[int]:
    """The `n` token ids seen most often in the training rows (inputs and labels), ties by id: the embeddings a LoRA
    adapter trains as peft trainable tokens. The org's own identifiers live in the (tied) embedding table, which LoRA
    on the linear layers cannot reach; trainable tokens change only these rows of it and survive merge_and_unload
    with the tie kept (measured: same loss before and after the merge)."""
    counts: Counter[int] = Counter()
    for features in dataset.features:
        counts.update(features["input_ids"])
        counts.update(t for t in features["labels"] if t >= 0)
    counts.pop(pad_id, None)
    return sorted(token for token, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def _count_params(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def _loss_history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for h in log_history:
        if "eval_loss" in h:
            out.append({"step": h.get("step"), "epoch": h.get("epoch") or 0.0, "eval_loss": h["eval_loss"],
                        "eval_loss_by_language": h.get("eval_loss_by_language", {}),
                        "eval_loss_by_task": h.get("eval_loss_by_task", {})})
        elif "loss" in h:
            out.append({"step": h.get("step"), "epoch": h.get("epoch"), "loss": h["loss"],
                        "learning_rate": h.get("learning_rate")})
    return out


# ---------------------------------------------------------------------------------------------------------------------
# the entry point

def prepare_base(config: TrainConfig) -> None:
    """Build the tiny base into models_dir when it is the configured base and not cached yet."""
    if config.base_model == TINY:
        ensure_tiny_base(config.models_dir, config.train_file, max_seconds=config.tiny_base_max_seconds,
                         max_steps=config.tiny_base_max_steps, seed=config.seed)


def build_training_arguments(config: TrainConfig, *, precision: str, has_eval: bool, eval_on_start: bool = False,
                             **overrides: Any) -> Seq2SeqTrainingArguments:
    """The Trainer's arguments. Building them resolves the device, which under torchrun / accelerate launch
    initialises the process group (gloo on CPU, nccl on CUDA)."""
    cuda = torch.cuda.is_available()
    kwargs: dict[str, Any] = dict(
        output_dir=str(config.output_dir),
        per_device_train_batch_size=config.train_batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps if config.max_steps else -1,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps in transformers 5
        lr_scheduler_type="linear",
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        eval_strategy="epoch" if has_eval else "no",
        eval_on_start=has_eval and eval_on_start,  # the base's eval loss at step 0: every curve starts from it
        save_strategy="epoch",
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda,
        train_sampling_strategy="group_by_length",
        label_names=["labels"],
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        predict_with_generate=False,
        generation_max_length=config.generation_max_new_tokens,
        generation_num_beams=config.generation_num_beams,
        # the non-reentrant variant lets gradients reach LoRA weights through checkpointed blocks whose frozen
        # inputs need no grad (transformers also hooks the input embeddings to require grad)
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        # DDP: every trainable parameter (LoRA's A/B, or the whole T5) takes part in every forward, so skip the
        # per-step search for unused ones (transformers turns it on for any model that is not a PreTrainedModel,
        # a PeftModel included)
        ddp_find_unused_parameters=False,
    )
    kwargs.update(overrides)
    return Seq2SeqTrainingArguments(**kwargs)


def _resume_point(config: TrainConfig) -> tuple[Path | None, int | None, int, float]:
    """(checkpoint, its step, tokens seen, training seconds) to continue from; Nones and zeros for a fresh start."""
    if not config.resume:
        return None, None, 0, 0.0
    ckpt = last_checkpoint(config.output_dir)
    if ckpt is None:
        log.warning("resume requested but %s holds no checkpoint: starting fresh", config.output_dir)
        return None, None, 0, 0.0
    step = checkpoint_step(ckpt)
    tokens, seconds = 0, 0.0
    state_file = ckpt / CHECKPOINT_STATE
    if state_file.is_file():
        st = json.loads(state_file.read_text())
        tokens, seconds = int(st.get("tokens_seen", 0)), float(st.get("training_time_seconds", 0))
    log.info("resuming from %s (step %d)", ckpt, step)
    return ckpt, step, tokens, seconds


def _remove_stale_checkpoints(output_dir: Path) -> None:
    stale = [p for p in output_dir.iterdir() if _CHECKPOINT_RE.match(p.name) and p.is_dir()]
    if stale:
        log.warning("resume=False: removing %d old checkpoint(s) in %s and starting fresh", len(stale), output_dir)
        for p in stale:
            shutil.rmtree(p)


def train(config: TrainConfig, *, callbacks: Sequence[TrainerCallback] = (),
          progress: ProgressSink | None = None) -> TrainResult:
    """Fine-tune `config.base_model` on `config.train_file`; see the module docstring. Raises TrainingDataError,
    BaseModelNotFoundError or TrainConfigError (all UserFacingError) for bad input.

    Under a multi-process launcher every rank calls this with the same config; only rank 0 records to `progress` and
    writes the adapter folder. All ranks return the same TrainResult."""
    output_dir = config.output_dir
    train_examples, mix = load_training_examples(config)
    eval_examples = load_eval_examples(config)
    if config.eval_file is not None and not eval_examples:
        log.warning("%s holds no examples: training without evaluation", config.eval_file)

    precision = resolve_precision(config.precision)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ckpt, resumed_from, tokens_offset, time_offset = _resume_point(config)
    # eval_on_start only on a fresh start: a resume keeps the base's step-0 eval from the checkpoint's log history
    args = build_training_arguments(config, precision=precision, has_eval=bool(eval_examples),
                                    eval_on_start=resumed_from is None)
    is_main, world_size = args.process_index == 0, args.world_size
    sink: ProgressSink = progress if (progress is not None and is_main) else _NullSink()

    # rank 0 builds a missing tiny base and clears old checkpoints while the other ranks wait, then they load it
    with args.main_process_first(local=False, desc="preparing the base and the output folder"):
        prepare_base(config)
        if is_main:
            output_dir.mkdir(parents=True, exist_ok=True)
            if not config.resume:
                _remove_stale_checkpoints(output_dir)
    set_seed(config.seed)
    model, tokenizer = load_base_model(config.base_model, models_dir=config.models_dir,
                                       allow_download=config.allow_download)
    base_path = resolve_base_path(config.base_model, models_dir=config.models_dir)
    fingerprint = weights_fingerprint(model)

    mix_extra: dict[str, Any] = {}
    if config.self_training_k:
        self_rows, mix_extra["self_training"] = _self_training_rows(config, args, train_examples, model, tokenizer,
                                                                    base_path, fingerprint, output_dir, is_main)
        train_examples = train_examples + self_rows
    if config.lora and config.init_adapter is not None:
        model = _continue_adapter(model, config.init_adapter, fingerprint)
        if is_main:
            model.print_trainable_parameters()
    if config.fit_item_targets:
        from rxt5_assets.training.fit import fit_item_targets

        train_examples, fitted = fit_item_targets(train_examples, tokenizer, config.max_target_length)
        mix_extra["fitted_item_targets"] = fitted
        if is_main:
            log.info("item targets over %d tokens: %d, fitted as closed items: %d, left cut: %d",
                     config.max_target_length, fitted["over_budget"], fitted["fitted"], fitted["kept_cut"])
    train_ds = tokenize_examples(train_examples, tokenizer, max_source_length=config.max_source_length,
                                 max_target_length=config.max_target_length)
    if config.lora and config.init_adapter is None:
        from peft import LoraConfig, TaskType, get_peft_model

        token_indices = (most_frequent_tokens(train_ds, config.lora_trainable_tokens, tokenizer.pad_token_id)
                         if config.lora_trainable_tokens else None)
        lora_config = LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=config.lora_r, lora_alpha=config.lora_alpha,
                                 lora_dropout=config.lora_dropout, target_modules=list(config.lora_target_modules),
                                 trainable_token_indices=token_indices)
        model = get_peft_model(model, lora_config)
        if is_main:
            model.print_trainable_parameters()
    trainable, total = _count_params(model)
    log.info("trainable params: %d of %d (%.2f%%)", trainable, total, 100 * trainable / max(total, 1))

    eval_ds = tokenize_examples(eval_examples, tokenizer, max_source_length=config.max_source_length,
                                max_target_length=config.max_target_length) if eval_examples else None
    collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100,
                                      pad_to_multiple_of=8 if device == "cuda" else None)

    progress_cb = ProgressCallback(FanOutSink(sink, LoggingSink(log, logging.DEBUG) if is_main else None),
                                   time_offset=time_offset)
    trainer_ref: list = []
    state_cb = _CheckpointStateCallback(trainer_ref, progress_cb, tokens_offset, args.device)
    trainer = RxT5Seq2SeqTrainer(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        # progress first: its clock must start before the base's step-0 evaluation logs
        callbacks=[progress_cb, state_cb, _LogEpochEndsCallback(), *callbacks],
    )
    trainer_ref.append(trainer)
    trainer.remove_callback(PrinterCallback)  # progress goes to the sink / logging, not print()

    if resumed_from is not None:
        sink.resumed(resumed_from)  # before any record of the continued run
    trainer.train(resume_from_checkpoint=str(ckpt) if ckpt is not None else None)
    train_seconds = progress_cb.elapsed()

    history = trainer.state.log_history
    evals = [h for h in history if "eval_loss" in h]
    final_eval: dict[str, Any] = {}
    if eval_ds is not None:
        if evals and evals[-1].get("step") == trainer.state.global_step:
            final_eval = evals[-1]
        else:  # on every rank: the evaluation is a collective under DDP
            final_eval = trainer.evaluate()
    base_eval = next((h for h in evals if h.get("step") == 0), {})
    loss_history = _loss_history(history)
    train_summary = summarize_train_loss(loss_history)
    tokens_seen = state_cb.tokens()  # a collective too

    eval_loss = float(final_eval["eval_loss"]) if final_eval else None
    by_language = dict(final_eval.get("eval_loss_by_language", {}))
    by_task = dict(final_eval.get("eval_loss_by_task", {}))
    base_loss = float(base_eval["eval_loss"]) if base_eval else None
    base_by_language = dict(base_eval.get("eval_loss_by_language", {}))
    base_by_task = dict(base_eval.get("eval_loss_by_task", {}))
    hyper = config.hyperparameters()
    hyper["precision_resolved"] = precision
    hyper["world_size"] = world_size
    adapter_dir = output_dir / ADAPTER_DIRNAME
    result = TrainResult(
        output_dir=output_dir,
        adapter_dir=adapter_dir,
        base_model=config.base_model,
        base_model_path=base_path,
        base_fingerprint=fingerprint,
        is_lora=config.lora,
        global_step=trainer.state.global_step,
        epochs_done=float(trainer.state.epoch or 0.0),
        train_loss=train_summary.last_window,
        mean_train_loss=train_summary.mean,
        eval_loss=eval_loss,
        loss_history=loss_history,
        tokens_seen=tokens_seen,
        train_seconds=round(train_seconds, 3),
        tokens_per_second=round(tokens_seen / train_seconds, 1) if train_seconds > 0 else 0.0,
        resumed_from_step=resumed_from,
        language_mix={**mix.as_dict(), **mix_extra},
        eval_examples=len(eval_examples),
        trainable_params=trainable,
        total_params=total,
        precision=precision,
        device=device,
        hyperparameters=hyper,
        train_loss_last_epoch=train_summary.last_epoch_mean,
        eval_loss_by_language=by_language,
        eval_loss_by_task=by_task,
        base_eval_loss=base_loss,
        base_eval_loss_by_language=base_by_language,
        base_eval_loss_by_task=base_by_task,
        relative_improvement=(base_loss - eval_loss) / base_loss if base_loss and eval_loss is not None else None,
        relative_improvement_by_language=relative_improvement(base_by_language, by_language),
        relative_improvement_by_task=relative_improvement(base_by_task, by_task),
        world_size=world_size,
    )
    if not is_main:  # the other ranks trained their shards; rank 0 writes the one adapter folder
        return result

    # the final artefact, written beside the run and renamed into place: a reader (or a crash) never sees half a folder
    staging = output_dir / f".{ADAPTER_DIRNAME}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    trainer.model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    eval_counts = dict(sorted(Counter(e.language for e in eval_examples).items()))
    task_counts = dict(sorted(Counter(e.task for e in eval_examples).items()))
    metrics = {"base eval loss (before training)": base_loss, "eval loss": eval_loss,
               "relative improvement": result.relative_improvement, "mean train loss": result.mean_train_loss,
               "train loss (last epoch)": result.train_loss_last_epoch,
               "train loss (last logging window)": result.train_loss, "global_step": result.global_step,
               "epochs": result.epochs_done, "tokens_seen": tokens_seen, "train_seconds": result.train_seconds,
               "tokens_per_second": result.tokens_per_second, "trainable_params": trainable, "total_params": total,
               "precision": precision, "device": device, "processes": world_size}
    (staging / "README.md").write_text(render_model_card(
        base_model=config.base_model, base_model_path=base_path, is_lora=config.lora, mix=result.language_mix,
        eval_counts=eval_counts, hyperparameters=hyper, metrics=metrics, loss_history=loss_history,
        loss_by_language=_base_and_final(base_by_language, by_language, eval_counts),
        loss_by_task=_base_and_final(base_by_task, by_task, task_counts)))
    meta = result.as_dict()
    meta["generation"] = {"max_new_tokens": config.generation_max_new_tokens, "num_beams": config.generation_num_beams,
                          "repetition_penalty": config.generation_repetition_penalty}
    meta["config"] = config.to_dict()
    (staging / TRAINING_METADATA).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    if adapter_dir.exists():  # an unregistered leftover (pipeline refuses to train into a registered one)
        shutil.rmtree(adapter_dir)
    os.replace(staging, adapter_dir)
    log.info("trained %s: step %d, mean train loss %s, eval loss %s (base %s), %.0f tokens/s -> %s",
             config.base_model, result.global_step, result.mean_train_loss, eval_loss, base_loss,
             result.tokens_per_second, adapter_dir)
    if math.isnan(result.train_loss or 0.0):
        log.warning("training loss is NaN")
    return result


def _base_and_final(base: dict[str, float], final: dict[str, float],
                    counts: dict[str, int]) -> dict[str, dict[str, Any]]:
    """{group: {"examples", "base", "final", "improvement"}} for the model card."""
    improvement = relative_improvement(base, final)
    return {k: {"examples": counts.get(k, 0), "base": base.get(k), "final": final.get(k),
                "improvement": improvement.get(k)} for k in sorted(set(base) | set(final) | set(counts))}
