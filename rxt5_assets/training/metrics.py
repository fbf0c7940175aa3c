"""Loss figures that show learning: eval loss per language and per task in one pass, and train-loss summaries.

Every eval loss here is the token-weighted mean cross-entropy (the sum of every target token's loss divided by the
number of target tokens), the quantity T5's own loss computes for one batch, so the figure does not depend on how the
eval set is batched and the per-group values average back to the overall one (weighted by their token counts).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from rxt5_assets.training.distributed import sum_across_processes


@dataclass
class GroupedLoss:
    loss: float | None  # over the whole set
    tokens: int
    examples: int
    by_language: dict[str, float] = field(default_factory=dict)
    by_task: dict[str, float] = field(default_factory=dict)
    tokens_by_language: dict[str, int] = field(default_factory=dict)
    tokens_by_task: dict[str, int] = field(default_factory=dict)


def grouped_eval_loss(model, features: Sequence[dict[str, list[int]]], languages: Sequence[str], tasks: Sequence[str],
                      collate: Callable[[list[dict]], dict], *, batch_size: int, device,
                      autocast: Callable[[], AbstractContextManager] = nullcontext, rank: int = 0,
                      world_size: int = 1) -> GroupedLoss:
    """One forward pass over `features`, per-example losses summed into their language and task groups.

    With several processes each rank takes every `world_size`-th example (no example twice, unlike a padded
    distributed sampler) and the sums are added across ranks, so every rank returns the same figures. Examples are
    batched by length to keep padding small.
    """
    import torch
    import torch.nn.functional as F

    lang_names, task_names = sorted(set(languages)), sorted(set(tasks))
    lang_of = {n: i for i, n in enumerate(lang_names)}
    task_of = {n: i for i, n in enumerate(task_names)}
    # per group: loss sum, tokens, examples — float64 on the CPU, whatever the model's device
    lang_sums = torch.zeros((len(lang_names), 3), dtype=torch.float64)
    task_sums = torch.zeros((len(task_names), 3), dtype=torch.float64)
    mine = sorted(range(rank, len(features), world_size),
                  key=lambda i: len(features[i]["input_ids"]) + len(features[i]["labels"]))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(mine), batch_size):
                idx = mine[start:start + batch_size]
                batch = collate([features[i] for i in idx])
                batch = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
                labels = batch["labels"]
                if "decoder_input_ids" in batch:  # the collator shifted the labels: no need for the model's own loss
                    batch.pop("labels")
                with autocast():
                    logits = model(**batch).logits
                token_loss = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100,
                                             reduction="none")
                mask = labels != -100
                per_example = torch.stack([(token_loss * mask).sum(1), mask.sum(1).to(token_loss.dtype),
                                           torch.ones(len(idx), device=labels.device)], 1).double().cpu()
                lang_sums.index_add_(0, torch.tensor([lang_of[languages[i]] for i in idx]), per_example)
                task_sums.index_add_(0, torch.tensor([task_of[tasks[i]] for i in idx]), per_example)
    finally:
        if was_training:
            model.train()

    if world_size > 1:
        flat = sum_across_processes(torch.cat([lang_sums.flatten(), task_sums.flatten()]).tolist(), device=device)
        both = torch.tensor(flat, dtype=torch.float64)
        lang_sums = both[:lang_sums.numel()].view_as(lang_sums)
        task_sums = both[lang_sums.numel():].view_as(task_sums)

    def means(sums, names) -> tuple[dict[str, float], dict[str, int]]:
        return ({n: float(sums[i, 0] / sums[i, 1]) for i, n in enumerate(names) if sums[i, 1] > 0},
                {n: int(sums[i, 1]) for i, n in enumerate(names)})

    by_language, tokens_by_language = means(lang_sums, lang_names)
    by_task, tokens_by_task = means(task_sums, task_names)
    total_loss, total_tokens, total_examples = (float(x) for x in lang_sums.sum(0))
    return GroupedLoss(loss=total_loss / total_tokens if total_tokens else None, tokens=int(total_tokens),
                       examples=int(total_examples), by_language=by_language, by_task=by_task,
                       tokens_by_language=tokens_by_language, tokens_by_task=tokens_by_task)


def relative_improvement(base: dict[str, float], final: dict[str, float]) -> dict[str, float]:
    """(base - final) / base per key present in both: 0.2 means the loss fell by a fifth from the base's."""
    return {k: (base[k] - final[k]) / base[k] for k in final if k in base and base[k]}


@dataclass(frozen=True)
class TrainLossSummary:
    mean: float | None  # over every optimizer step logged, across resumes
    last_epoch_mean: float | None  # over the steps of the last (possibly partial) epoch
    last_window: float | None  # the last logging window's mean (noisy: a few batches)


def summarize_train_loss(loss_history: Sequence[dict[str, Any]]) -> TrainLossSummary:
    """Step-weighted means of the logged training loss: each entry is the mean over the steps since the previous one.

    The trainer logs at every epoch end and at the last step, so windows never straddle epochs and none is left out.
    """
    points = sorted((h for h in loss_history if "loss" in h and h.get("step") is not None), key=lambda h: h["step"])
    if not points:
        return TrainLossSummary(None, None, None)
    windows, previous = [], 0
    for h in points:
        if h["step"] > previous:
            windows.append((h["step"] - previous, float(h["loss"]), float(h.get("epoch") or 0.0)))
            previous = h["step"]

    def weighted(ws) -> float | None:
        steps = sum(w for w, _, _ in ws)
        return sum(w * loss for w, loss, _ in ws) / steps if steps else None

    last_epoch = windows[-1][2]
    # windows ending inside the last epoch: epoch in (ceil(last) - 1, last], with slack for float epochs
    floor = math.ceil(last_epoch - 1e-6) - 1
    tail = [w for w in windows if w[2] > floor + 1e-6] or windows[-1:]
    return TrainLossSummary(mean=weighted(windows), last_epoch_mean=weighted(tail), last_window=windows[-1][1])
