"""`train(config)`: LoRA (or full) fine-tuning of a seq2seq base with transformers' Seq2SeqTrainer.

What it does beyond a stock Seq2SeqTrainer setup:
* dynamic padding: examples are tokenised without padding (truncated to the max lengths) and padded per batch by
  `DataCollatorForSeq2Seq(label_pad_token_id=-100)`;
* length grouping on source + target length (transformers' own grouping looks at the source only);
* real tokens seen (non-pad source + target tokens) and training time, carried across resumes in `rxt5_state.json`
  inside each checkpoint;
* progress records to a `ProgressSink` while training runs, and `sink.resumed(step)` before a resume;
* `output_dir/adapter/`: the PEFT adapter (or the full model), tokenizer, model card and `rxt5_training.json`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
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
from rxt5_assets.training.config import TINY, TrainConfig
from rxt5_assets.training.data import Example, load_eval_examples, load_training_examples
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
    train_loss: float | None  # mean training loss of the last logging window
    mean_train_loss: float | None  # mean over this run's steps (transformers' training_loss)
    eval_loss: float | None
    loss_history: list[dict[str, Any]]  # {"step", "epoch", "loss"} and {"step", "epoch", "eval_loss"} entries
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
    """Tokenised, unpadded examples; `lengths` (source + target tokens) drive the length-grouped sampler."""

    def __init__(self, features: list[dict[str, list[int]]]):
        self.features = features
        self.lengths = [len(f["input_ids"]) + len(f["labels"]) for f in features]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.features[i]


def tokenize_examples(examples: Sequence[Example], tokenizer, *, max_source_length: int,
                      max_target_length: int, padding: bool | str = False) -> Seq2SeqExamples:
    """Tokenise inputs and targets, truncated to the max lengths; unpadded unless `padding` says otherwise."""
    if not examples:
        return Seq2SeqExamples([])
    src = tokenizer([e.input for e in examples], max_length=max_source_length, truncation=True, padding=padding)
    tgt = tokenizer(text_target=[e.target for e in examples], max_length=max_target_length, truncation=True,
                    padding=padding)["input_ids"]
    pad = tokenizer.pad_token_id
    feats = []
    for ids, mask, labels in zip(src["input_ids"], src["attention_mask"], tgt):
        if padding:
            labels = [t if t != pad else -100 for t in labels]
        feats.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return Seq2SeqExamples(feats)


class RxT5Seq2SeqTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer that groups by source + target length and counts real tokens."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.real_tokens_seen = 0

    def _get_train_sampler(self, train_dataset=None):
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy == "group_by_length" and isinstance(ds, Seq2SeqExamples):
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        lengths=ds.lengths)
        return super()._get_train_sampler(train_dataset)

    def training_step(self, model, inputs, num_items_in_batch=None):
        n = 0
        if "attention_mask" in inputs:
            n += int(inputs["attention_mask"].sum())
        if "labels" in inputs:
            n += int((inputs["labels"] != -100).sum())
        self.real_tokens_seen += n
        return super().training_step(model, inputs, num_items_in_batch)


class _CheckpointStateCallback(TrainerCallback):
    """Writes tokens seen and training time into every checkpoint, so both keep counting across resumes."""

    def __init__(self, trainer_ref: list, progress: ProgressCallback, tokens_offset: int) -> None:
        self.trainer_ref = trainer_ref
        self.progress = progress
        self.tokens_offset = tokens_offset

    def tokens(self) -> int:
        return self.tokens_offset + (self.trainer_ref[0].real_tokens_seen if self.trainer_ref else 0)

    def on_save(self, args, state, control, **kwargs):
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if ckpt.is_dir():
            (ckpt / CHECKPOINT_STATE).write_text(json.dumps(
                {"global_step": state.global_step, "tokens_seen": self.tokens(),
                 "training_time_seconds": round(self.progress.elapsed(), 3)}) + "\n")


class _NullSink:
    def record(self, rec) -> None:
        pass

    def resumed(self, from_step: int) -> None:
        pass


def _count_params(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def _loss_history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for h in log_history:
        if "eval_loss" in h:
            out.append({"step": h.get("step"), "epoch": h.get("epoch"), "eval_loss": h["eval_loss"]})
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


def build_training_arguments(config: TrainConfig, *, precision: str, has_eval: bool,
                             **overrides: Any) -> Seq2SeqTrainingArguments:
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
    )
    kwargs.update(overrides)
    return Seq2SeqTrainingArguments(**kwargs)


def train(config: TrainConfig, *, callbacks: Sequence[TrainerCallback] = (),
          progress: ProgressSink | None = None) -> TrainResult:
    """Fine-tune `config.base_model` on `config.train_file`; see the module docstring. Raises TrainingDataError,
    BaseModelNotFoundError or TrainConfigError (all UserFacingError) for bad input."""
    output_dir = config.output_dir
    sink: ProgressSink = progress if progress is not None else _NullSink()
    train_examples, mix = load_training_examples(config)
    eval_examples = load_eval_examples(config)
    if config.eval_file is not None and not eval_examples:
        log.warning("%s holds no examples: training without evaluation", config.eval_file)

    precision = resolve_precision(config.precision)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    prepare_base(config)
    set_seed(config.seed)
    model, tokenizer = load_base_model(config.base_model, models_dir=config.models_dir,
                                       allow_download=config.allow_download)
    base_path = resolve_base_path(config.base_model, models_dir=config.models_dir)
    fingerprint = weights_fingerprint(model)

    if config.lora:
        from peft import LoraConfig, TaskType, get_peft_model

        lora_config = LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=config.lora_r, lora_alpha=config.lora_alpha,
                                 lora_dropout=config.lora_dropout, target_modules=list(config.lora_target_modules))
        model = get_peft_model(model, lora_config)
        model.print_trainable_parameters()
    trainable, total = _count_params(model)
    log.info("trainable params: %d of %d (%.2f%%)", trainable, total, 100 * trainable / max(total, 1))

    train_ds = tokenize_examples(train_examples, tokenizer, max_source_length=config.max_source_length,
                                 max_target_length=config.max_target_length)
    eval_ds = tokenize_examples(eval_examples, tokenizer, max_source_length=config.max_source_length,
                                max_target_length=config.max_target_length) if eval_examples else None
    collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100,
                                      pad_to_multiple_of=8 if device == "cuda" else None)

    # resume or start fresh
    output_dir.mkdir(parents=True, exist_ok=True)
    ckpt: Path | None = None
    resumed_from: int | None = None
    tokens_offset, time_offset = 0, 0.0
    if config.resume:
        ckpt = last_checkpoint(output_dir)
        if ckpt is None:
            log.warning("resume requested but %s holds no checkpoint: starting fresh", output_dir)
        else:
            resumed_from = checkpoint_step(ckpt)
            state_file = ckpt / CHECKPOINT_STATE
            if state_file.is_file():
                st = json.loads(state_file.read_text())
                tokens_offset, time_offset = int(st.get("tokens_seen", 0)), float(st.get("training_time_seconds", 0))
            log.info("resuming from %s (step %d)", ckpt, resumed_from)
    else:
        stale = [p for p in output_dir.iterdir() if _CHECKPOINT_RE.match(p.name) and p.is_dir()]
        if stale:
            log.warning("resume=False: removing %d old checkpoint(s) in %s and starting fresh", len(stale), output_dir)
            for p in stale:
                shutil.rmtree(p)

    progress_cb = ProgressCallback(FanOutSink(sink, LoggingSink(log, logging.DEBUG)), time_offset=time_offset)
    trainer_ref: list = []
    state_cb = _CheckpointStateCallback(trainer_ref, progress_cb, tokens_offset)
    args = build_training_arguments(config, precision=precision, has_eval=eval_ds is not None)
    trainer = RxT5Seq2SeqTrainer(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        callbacks=[progress_cb, state_cb, *callbacks],
    )
    trainer_ref.append(trainer)
    trainer.remove_callback(PrinterCallback)  # progress goes to the sink / logging, not print()

    if resumed_from is not None:
        sink.resumed(resumed_from)  # before any record of the continued run
    out = trainer.train(resume_from_checkpoint=str(ckpt) if ckpt is not None else None)
    train_seconds = progress_cb.elapsed()

    history = trainer.state.log_history
    evals = [h for h in history if "eval_loss" in h]
    eval_loss: float | None = None
    if eval_ds is not None:
        if evals and evals[-1].get("step") == trainer.state.global_step:
            eval_loss = float(evals[-1]["eval_loss"])
        else:
            eval_loss = float(trainer.evaluate()["eval_loss"])
    losses = [h for h in trainer.state.log_history if "loss" in h]
    train_loss = float(losses[-1]["loss"]) if losses else None
    tokens_seen = state_cb.tokens()

    # the final artefact
    adapter_dir = output_dir / ADAPTER_DIRNAME
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    trainer.model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    hyper = config.hyperparameters()
    hyper["precision_resolved"] = precision
    loss_history = _loss_history(trainer.state.log_history)
    result = TrainResult(
        output_dir=output_dir,
        adapter_dir=adapter_dir,
        base_model=config.base_model,
        base_model_path=base_path,
        base_fingerprint=fingerprint,
        is_lora=config.lora,
        global_step=trainer.state.global_step,
        epochs_done=float(trainer.state.epoch or 0.0),
        train_loss=train_loss,
        mean_train_loss=float(out.training_loss) if out.training_loss is not None else None,
        eval_loss=eval_loss,
        loss_history=loss_history,
        tokens_seen=tokens_seen,
        train_seconds=round(train_seconds, 3),
        tokens_per_second=round(tokens_seen / train_seconds, 1) if train_seconds > 0 else 0.0,
        resumed_from_step=resumed_from,
        language_mix=mix.as_dict(),
        eval_examples=len(eval_examples),
        trainable_params=trainable,
        total_params=total,
        precision=precision,
        device=device,
        hyperparameters=hyper,
    )
    eval_counts = dict(sorted(Counter(e.language for e in eval_examples).items()))
    metrics = {"train_loss (last window)": train_loss, "mean_train_loss": result.mean_train_loss,
               "eval_loss": eval_loss, "global_step": result.global_step, "epochs": result.epochs_done,
               "tokens_seen": tokens_seen, "train_seconds": result.train_seconds,
               "tokens_per_second": result.tokens_per_second, "trainable_params": trainable, "total_params": total,
               "precision": precision, "device": device}
    (adapter_dir / "README.md").write_text(render_model_card(
        base_model=config.base_model, base_model_path=base_path, is_lora=config.lora, mix=mix.as_dict(),
        eval_counts=eval_counts, hyperparameters=hyper, metrics=metrics, loss_history=loss_history))
    meta = result.as_dict()
    meta["generation"] = {"max_new_tokens": config.generation_max_new_tokens, "num_beams": config.generation_num_beams,
                          "repetition_penalty": config.generation_repetition_penalty}
    meta["config"] = config.to_dict()
    (adapter_dir / TRAINING_METADATA).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    log.info("trained %s: step %d, train loss %s, eval loss %s, %.0f tokens/s -> %s", config.base_model,
             result.global_step, train_loss, eval_loss, result.tokens_per_second, adapter_dir)
    if math.isnan(train_loss or 0.0):
        log.warning("training loss is NaN")
    return result
