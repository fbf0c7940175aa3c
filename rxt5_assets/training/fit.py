"""Item targets that fit the target budget as whole items.

Half of the demo's item targets are longer than the 128 target tokens the trainer keeps (Rust implement/generate 38 %,
Elixir 48 % of the training split). Cut at the budget, such a target is a struct without its `}` or a module without
its `end`, and a model trained on it learns to write items that never close — the measured failure of the demo
fine-tunes (strict validity below the base's). `fit_item_targets` replaces each such target by the longest of its
language's closed prefixes (`closed_prefixes`: the item cut after a member of its body and closed by its own closing
line) that fits the budget and is a valid item of the requested kind; a target with no such prefix keeps its cut.
Only the training split is fitted: evaluation always scores against the code as it is.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Sequence

from rxt5_assets.training.data import Example


def fit_item_targets(examples: Sequence[Example], tokenizer, max_length: int, *,
                     unfittable: str = "keep") -> tuple[list[Example], dict[str, int]]:
    """(examples with every over-long whole-item target replaced by its longest fitting closed prefix, counts):
    counts has `over_budget` (item targets longer than max_length tokens), `fitted` (replaced) and `kept_cut` (no
    closed prefix fits: they stay as they were, cut by the trainer) — or `dropped`, with `unfittable="drop"`: those
    rows are left out (the demo base's pretraining, where every kept row should teach a whole item)."""
    if unfittable not in ("keep", "drop"):
        raise ValueError(f"unfittable must be 'keep' or 'drop' (got {unfittable!r})")
    from rxt5_assets import languages
    from rxt5_assets.evaluation.runner import requested_kind
    from rxt5_assets.evaluation.template import target_language_of

    def n_tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(text_target=texts)["input_ids"]]

    lengths = n_tokens([e.target for e in examples]) if examples else []
    out: list[Example | None] = list(examples)
    counts = Counter()
    for i, (example, length) in enumerate(zip(examples, lengths)):
        if length <= max_length:
            continue
        language = target_language_of(example.language)
        try:
            module = languages.get(language)
        except KeyError:
            continue
        kind = requested_kind(example.target, example.language, example.task)
        if kind is None or not hasattr(module, "closed_prefixes"):
            continue
        counts["over_budget"] += 1
        chosen = _longest_fitting(module.closed_prefixes(example.target), kind, module, n_tokens, max_length)
        if chosen is None:
            if unfittable == "drop":
                counts["dropped"] += 1
                out[i] = None
            else:
                counts["kept_cut"] += 1
            continue
        counts["fitted"] += 1
        out[i] = dataclasses.replace(example, target=chosen)
    summary = {"over_budget": counts["over_budget"], "fitted": counts["fitted"], "kept_cut": counts["kept_cut"]}
    if unfittable == "drop":
        summary["dropped"] = counts["dropped"]
    return [e for e in out if e is not None], summary


def _longest_fitting(prefixes: list[str], kind: str, module, n_tokens, max_length: int) -> str | None:
    """The longest prefix (they come shortest first) within max_length tokens that is a valid item of `kind`: a
    binary search on the token count (it grows with the prefix), then down to the first valid one."""
    lo, hi = 0, len(prefixes)  # prefixes[:lo] fit, prefixes[hi:] do not
    while lo < hi:
        mid = (lo + hi) // 2
        if n_tokens([prefixes[mid]])[0] <= max_length:
            lo = mid + 1
        else:
            hi = mid
    for candidate in reversed(prefixes[:lo]):
        if n_tokens([candidate])[0] <= max_length and module.is_valid_item(candidate, kind):
            return candidate
    return None
