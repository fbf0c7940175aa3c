"""The `tiny` base model: a small T5 built and trained locally, so the demo profile needs no model hub.

A LoRA adapter only reloads onto the identical base weights, so the base is trained once, saved *with its tokenizer* in
`<models_dir>/tiny/`, and reused by every later training run (`ensure_tiny_base`). Its metadata
(`rxt5_tiny_base.json`) records how it was built, including a fingerprint of its weights.

Size and objective were chosen by measurement: 120 s of base training per config on 2 pinned, otherwise idle CPU cores
(Xeon; torch 2 threads), 2,982 real Rust `implement` rows from Debian's crates + 182 Elixir rows, 205 held-out rows:

    config            params  steps  tokens/s  eval loss  chrF(64 greedy)  outputs with balanced {}
    d128 2+2, task     1.94M    383     7,189      4.53         4.3             100 %      <- DEFAULT_SPEC
    d128 2+2, mixed    1.94M    488     7,280      4.65         5.1             100 %
    d128 3+3, task     2.40M    315     5,910      4.67         5.6             100 %
    d64  2+2, task     0.74M    537    10,164      4.77         8.2              94 %
    d256 4+4, task     9.39M    140     2,589      5.37         6.9               3 %  (loops)
    d128 2+2, span     1.94M    771     8,131      6.55         0.3               0 %  (never learns the task format)

"task" trains on the (input, target) pairs themselves, "span" is T5 span corruption on the same texts, "mixed" half and
half. chrF at this level mostly scores degenerate outputs and is noisy; eval loss decides. None of these is a useful
code generator after two minutes: the base exists so that LoRA starts from weights that know the data's shape.
The base trains on the CPU even where CUDA is available (it is the demo profile's base; production uses CodeT5+).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Literal

from rxt5_assets.training.data import Example, read_jsonl
from rxt5_assets.training.tokenizer import BOS_ID, DEFAULT_VOCAB_SIZE, EOS_ID, MASK_ID, PAD_ID, train_bpe_tokenizer

log = logging.getLogger(__name__)

TINY_DIRNAME = "tiny"
METADATA_FILE = "rxt5_tiny_base.json"
Objective = Literal["task", "span", "mixed"]


@dataclass(frozen=True)
class TinyBaseSpec:
    """Architecture and training recipe of the tiny base (defaults = the measured winner on 2 CPU cores)."""

    d_model: int = 128
    num_layers: int = 2
    num_decoder_layers: int = 2
    num_heads: int = 4
    d_kv: int = 32
    d_ff: int = 512
    dropout_rate: float = 0.1
    vocab_size: int = DEFAULT_VOCAB_SIZE
    objective: Objective = "task"
    learning_rate: float = 2e-3
    batch_size: int = 16
    warmup_steps: int = 30
    max_source_length: int = 320
    max_target_length: int = 128


DEFAULT_SPEC = TinyBaseSpec()


def tiny_base_dir(models_dir: Path | str) -> Path:
    return Path(models_dir) / TINY_DIRNAME


def is_complete_base(path: Path | str) -> bool:
    path = Path(path)
    return all((path / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json", METADATA_FILE))


def weights_fingerprint(model) -> str:
    """sha256 over the state dict (names, shapes, bytes): identical bases have identical fingerprints."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------------
# objectives

def _span_corrupt(ids: list[int], rng: random.Random, noise: float = 0.15, mean_span: float = 3.0):
    """T5-style span corruption with a single sentinel (<mask>): input keeps the text with each span replaced by
    <mask>, target lists the removed spans, each introduced by <mask>."""
    body = ids[1:-1] if len(ids) > 2 else ids
    n = len(body)
    n_noise = max(1, round(n * noise))
    n_spans = max(1, round(n_noise / mean_span))
    starts = sorted(rng.sample(range(n), min(n_spans, n)))
    src, tgt, i = [BOS_ID], [BOS_ID], 0
    for s in starts:
        if s < i:
            continue
        span = max(1, min(n - s, int(rng.expovariate(1 / mean_span)) + 1))
        src.extend(body[i:s])
        src.append(MASK_ID)
        tgt.append(MASK_ID)
        tgt.extend(body[s:s + span])
        i = s + span
    src.extend(body[i:])
    return src + [EOS_ID], tgt + [EOS_ID]


def _pairs_for_objective(examples: list[Example], tokenizer, spec: TinyBaseSpec, seed: int):
    """Tokenised (source ids, target ids) pairs for the objective; span pairs are re-drawn each epoch by the caller."""
    src = tokenizer([e.input for e in examples], max_length=spec.max_source_length, truncation=True)["input_ids"]
    from rxt5_assets.training.trainer import target_ids

    tgt = target_ids(tokenizer, [e.target for e in examples], spec.max_target_length)
    return list(zip(src, tgt))


def _epoch_pairs(task_pairs, objective: str, rng: random.Random, spec: TinyBaseSpec):
    if objective == "task":
        return list(task_pairs)
    span_pairs = []
    for s, t in task_pairs:
        for ids in (s, t):
            if len(ids) > 4:
                a, b = _span_corrupt(ids, rng)
                span_pairs.append((a[: spec.max_source_length], b[: spec.max_target_length]))
    if objective == "span":
        return span_pairs
    return list(task_pairs) + rng.sample(span_pairs, min(len(span_pairs), len(task_pairs)))


def _length_grouped_batches(pairs, batch_size: int, rng: random.Random):
    """Shuffle, then sort within mega-batches of 50 batches by length, so batches need little padding."""
    order = list(range(len(pairs)))
    rng.shuffle(order)
    mega = batch_size * 50
    batches = []
    for m in range(0, len(order), mega):
        chunk = sorted(order[m:m + mega], key=lambda i: len(pairs[i][0]) + len(pairs[i][1]), reverse=True)
        batches.extend(chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _collate(pairs, idx):
    import torch

    src = [pairs[i][0] for i in idx]
    tgt = [pairs[i][1] for i in idx]
    ls, lt = max(map(len, src)), max(map(len, tgt))
    input_ids = torch.full((len(idx), ls), PAD_ID, dtype=torch.long)
    attn = torch.zeros((len(idx), ls), dtype=torch.long)
    labels = torch.full((len(idx), lt), -100, dtype=torch.long)
    for r, (s, t) in enumerate(zip(src, tgt)):
        input_ids[r, : len(s)] = torch.tensor(s)
        attn[r, : len(s)] = 1
        labels[r, : len(t)] = torch.tensor(t)
    return input_ids, attn, labels


def mean_loss(model, pairs, *, batch_size: int = 32) -> float:
    """Token-weighted mean cross-entropy of `model` on tokenised (source, target) pairs, in eval mode."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    with torch.no_grad():
        for b in range(0, len(order), batch_size):
            input_ids, attn, labels = _collate(pairs, order[b:b + batch_size])
            n = int((labels != -100).sum())
            total += float(model(input_ids=input_ids, attention_mask=attn, labels=labels).loss) * n
            count += n
    if was_training:
        model.train()
    return total / max(count, 1)


def new_tiny_model(spec: TinyBaseSpec, vocab_size: int):
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(
        vocab_size=vocab_size,
        d_model=spec.d_model,
        d_kv=spec.d_kv,
        d_ff=spec.d_ff,
        num_layers=spec.num_layers,
        num_decoder_layers=spec.num_decoder_layers,
        num_heads=spec.num_heads,
        dropout_rate=spec.dropout_rate,
        feed_forward_proj="relu",
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=PAD_ID,
        tie_word_embeddings=True,
    )
    model = T5ForConditionalGeneration(config)
    gc = model.generation_config
    gc.decoder_start_token_id, gc.pad_token_id, gc.eos_token_id, gc.bos_token_id = PAD_ID, PAD_ID, EOS_ID, BOS_ID
    return model


def build_tiny_base(
    train_file: Path | str,
    out_dir: Path | str,
    *,
    tokenizer_texts: Iterable[str] | None = None,
    max_seconds: float | None = 120.0,
    max_steps: int | None = None,
    seed: int = 42,
    spec: TinyBaseSpec = DEFAULT_SPEC,
    eval_file: Path | str | None = None,
    eval_every_steps: int = 0,
    extra_metadata: dict | None = None,
    init_from: Path | str | None = None,
    fit_item_targets: str = "off",
    language_weights: dict[str, float] | None = None,
) -> Path:
    """Train a tokenizer and a small T5 on `train_file`'s examples and save both (plus metadata) to `out_dir`.

    With `eval_file`, the loss on its examples is measured before the first step, every `eval_every_steps` steps (0:
    only before and after) and at the end, and kept in the metadata's `eval_history`. With `init_from` (a base this
    function saved), training continues from its weights and tokenizer with a fresh learning-rate schedule; its
    steps, seconds and eval history carry over into the new metadata.

    The tokenizer is trained on `tokenizer_texts`, or on the training file's inputs and targets when None. The model
    trains on the objective in `spec` until `max_seconds` or `max_steps` runs out, whichever comes first (at least one
    of them must be set); with only `max_steps` the result is deterministic for a seed. The folder is written
    atomically: a half-built base is never left at `out_dir`. Returns `out_dir`.

    `fit_item_targets` ("off", "keep" or "drop") replaces over-long whole-item targets of the training examples by
    their longest closed prefix that fits `spec.max_target_length` (`training.fit`), keeping or dropping those that
    have none; `language_weights` resamples the training examples per language (`training.data.apply_weights`,
    seeded). Neither touches `eval_file`.
    """
    import torch
    from transformers import set_seed

    if max_seconds is None and max_steps is None:
        raise ValueError("build_tiny_base needs max_seconds or max_steps")
    out_dir = Path(out_dir)
    examples = read_jsonl(train_file)
    set_seed(seed)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    previous: dict = {}
    if init_from is not None:
        from transformers import AutoTokenizer, T5ForConditionalGeneration

        previous = read_tiny_metadata(init_from)
        texts = []
        tokenizer = AutoTokenizer.from_pretrained(init_from)
        model = T5ForConditionalGeneration.from_pretrained(init_from)
    else:
        texts = (list(tokenizer_texts) if tokenizer_texts is not None
                 else [t for e in examples for t in (e.input, e.target)])
        tokenizer = train_bpe_tokenizer(texts, vocab_size=spec.vocab_size)
        model = new_tiny_model(spec, vocab_size=len(tokenizer))
    tokenizer_seconds = time.perf_counter() - t0

    model.train()
    curriculum: dict = {}
    if language_weights:
        from rxt5_assets.training.data import apply_weights

        examples, mix = apply_weights(examples, weight_of=lambda language: language_weights.get(language, 1.0),
                                      seed=seed)
        curriculum["language_weights"] = dict(language_weights)
        curriculum["per_language"] = mix.per_language
    if fit_item_targets != "off":
        from rxt5_assets.training.fit import fit_item_targets as fit

        examples, curriculum["fitted_item_targets"] = fit(examples, tokenizer, spec.max_target_length,
                                                          unfittable=fit_item_targets)
        log.info("tiny base: item targets fitted %s", curriculum["fitted_item_targets"])
    task_pairs = _pairs_for_objective(examples, tokenizer, spec, seed)
    optim = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.01)

    def lr_factor(step: int, elapsed: float) -> float:
        progress = 0.0
        if max_steps:
            progress = max(progress, step / max_steps)
        if max_seconds:
            progress = max(progress, elapsed / max_seconds)
        return min(1.0, (step + 1) / spec.warmup_steps) * max(0.1, 1.0 - progress)

    eval_pairs = _pairs_for_objective(read_jsonl(eval_file), tokenizer, spec, seed) if eval_file else []
    eval_history: list[dict] = []

    def evaluate_now() -> None:
        if eval_pairs:
            loss = mean_loss(model, eval_pairs, batch_size=32)
            eval_history.append({"step": step + previous.get("steps", 0),
                                 "seconds": round(time.perf_counter() - start + previous.get("train_seconds", 0), 1),
                                 "eval_loss": loss})
            log.info("tiny base: step %d eval loss %.4f", step, loss)

    step, losses, tokens = 0, [], 0
    start = time.perf_counter()
    evaluate_now()
    done = False
    epoch = 0
    while not done:
        pairs = _epoch_pairs(task_pairs, spec.objective, rng, spec)
        for idx in _length_grouped_batches(pairs, spec.batch_size, rng):
            elapsed = time.perf_counter() - start
            if (max_steps is not None and step >= max_steps) or (max_seconds is not None and elapsed >= max_seconds):
                done = True
                break
            for g in optim.param_groups:
                g["lr"] = spec.learning_rate * lr_factor(step, elapsed)
            input_ids, attn, labels = _collate(pairs, idx)
            loss = model(input_ids=input_ids, attention_mask=attn, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            optim.zero_grad(set_to_none=True)
            losses.append(loss.item())
            tokens += int(attn.sum()) + int((labels != -100).sum())
            step += 1
            if step % 50 == 0:
                log.info("tiny base: step %d loss %.3f (%.0f s)", step, sum(losses[-50:]) / 50, elapsed)
            if eval_every_steps and step % eval_every_steps == 0:
                evaluate_now()
        epoch += 1
    seconds = time.perf_counter() - start
    evaluate_now()
    model.eval()

    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tail = losses[-20:] or [float("nan")]
        meta = {
            "kind": "rxt5-tiny-base",
            "spec": asdict(spec),
            "seed": seed,
            "train_file": str(Path(train_file).resolve()),
            "examples": len(examples),
            "tokenizer_texts": len(texts) or previous.get("tokenizer_texts"),
            "vocab_size": len(tokenizer),
            "parameters": sum(p.numel() for p in model.parameters()),
            "steps": step + previous.get("steps", 0),
            "epochs_over_data": epoch + previous.get("epochs_over_data", 0),
            "train_seconds": round(seconds + previous.get("train_seconds", 0), 2),
            "phases": [*previous.get("phases", [{"steps": previous["steps"], "seconds": previous["train_seconds"],
                                                 "learning_rate": previous["spec"]["learning_rate"]}]
                                     if previous else []),
                       {"steps": step, "seconds": round(seconds, 2), "learning_rate": spec.learning_rate,
                        "init_from": str(init_from) if init_from else None, "examples": len(examples),
                        **curriculum}],
            "tokenizer_seconds": round(tokenizer_seconds, 2),
            "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else None,
            "first_loss": previous.get("first_loss") or (losses[0] if losses else None),
            "final_loss": sum(tail) / len(tail),
            "max_seconds": max_seconds,
            "max_steps": max_steps,
            "fingerprint": weights_fingerprint(model),
            "eval_history": [*previous.get("eval_history", [])[:-1], *eval_history] if previous else eval_history,
            **(extra_metadata or {}),
        }
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out_dir, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("tiny base built in %s: %d params, %d steps in %.0f s, loss %.3f -> %.3f", out_dir, meta["parameters"],
             step, seconds, meta["first_loss"] or math.nan, meta["final_loss"])
    return out_dir


def ensure_tiny_base(
    models_dir: Path | str,
    train_file: Path | str,
    *,
    tokenizer_texts: Iterable[str] | None = None,
    max_seconds: float | None = 120.0,
    max_steps: int | None = None,
    seed: int = 42,
    spec: TinyBaseSpec = DEFAULT_SPEC,
) -> Path:
    """`<models_dir>/tiny`, built from `train_file` only when no complete base is cached there yet.

    A cached base is reused as is (even when `train_file` has changed since) so that adapters trained later stay
    comparable and reload onto the same weights; delete the folder to rebuild it.
    """
    out = tiny_base_dir(models_dir)
    if is_complete_base(out):
        log.info("using cached tiny base %s", out)
        return out
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    log.info("building the tiny base in %s (budget: %s s, %s steps)", out, max_seconds, max_steps)
    return build_tiny_base(train_file, out, tokenizer_texts=tokenizer_texts, max_seconds=max_seconds,
                           max_steps=max_steps, seed=seed, spec=spec)


def read_tiny_metadata(path: Path | str) -> dict:
    return json.loads((Path(path) / METADATA_FILE).read_text())
