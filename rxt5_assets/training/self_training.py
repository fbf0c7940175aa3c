"""Self-training on valid samples (rejection-sampling fine-tuning): the base writes k candidates for every item prompt
of the org's training split; per prompt the strict-valid candidate (the language module's `is_valid_item` of the
requested kind — parsed, never run) closest to the reference by chrF joins the training rows, next to the reference.

Why: the demo fine-tunes learned the org's vocabulary and shape but wrote valid items less often than their own base
(a 2M-parameter model imitating long org items it cannot yet close). Training also on items the base *can* write
validly for the org's own prompts teaches what is within its reach; measured on the demo eval split (files no model
trained on), with fitted targets: greedy strict-valid Rust 6-20 % -> 35-47 %, best-of-8 Elixir 8-10 % -> 27-29 %,
above the base in both languages (README "How the model is trained"). Only training-split prompts are sampled, so the
eval split stays unseen.

Sampling runs on CTranslate2 when it is installed (the base converted once to fp32 into
`<models_dir>/ct2-bases/<fingerprint>/`, by an atomic rename), else on transformers; the rows are written to
`self_training.jsonl` in the run folder so a resumed run, and every DDP rank, trains on the same rows.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from rxt5_assets.training.data import Example

log = logging.getLogger(__name__)

SELF_TRAINING_FILE = "self_training.jsonl"
ITEM_TASKS = ("implement", "generate")


def sampling_params(k: int, *, max_new_tokens: int, seed: int):
    """How the base samples: k candidates at the evaluation's best-of-k settings (T 0.8, top-p 0.95, repetition
    penalty 1.2, no repeated 4-gram — `SamplingParams`' defaults), seeded."""
    from rxt5_assets.generation.backends import SamplingParams

    return SamplingParams(max_new_tokens=max_new_tokens, num_candidates=k, do_sample=True, seed=seed)


def item_prompts(examples: Sequence[Example]) -> list[tuple[Example, str]]:
    """(example, requested kind) for the org's whole-item rows (implement/generate; replayed rows excluded)."""
    from rxt5_assets.evaluation.runner import requested_kind

    out = []
    for e in examples:
        if e.task not in ITEM_TASKS or e.is_cross_language or e.extra.get("replay"):
            continue
        kind = requested_kind(e.target, e.language, e.task)  # None for a language without a module too
        if kind is not None:
            out.append((e, kind))
    return out


def select_valid(rows: Sequence[tuple[Example, str]], candidates: Sequence[Sequence[str]]) -> list[Example]:
    """Per row, the strict-valid candidate of the requested kind with the highest chrF against the reference (ties:
    the earlier candidate); rows without one are skipped. The new row keeps the prompt, language and task."""
    import dataclasses

    from sacrebleu.metrics import CHRF

    from rxt5_assets.evaluation.metrics import strict_valid

    chrf = CHRF()
    out = []
    for (example, kind), cands in zip(rows, candidates):
        valid = [c for c in cands if c.strip() and strict_valid(c, example.language, kind)]
        if not valid:
            continue
        scores = [chrf.sentence_score(c, [example.target]).score for c in valid]
        best = valid[max(range(len(valid)), key=lambda i: (scores[i], -i))]
        out.append(dataclasses.replace(example, target=best, weight=1.0,
                                       extra={**example.extra, "self_training": True,
                                              "chrf": round(max(scores), 2)}))
    return out


def _ct2_base(base_path: Path, fingerprint: str, models_dir: Path) -> Path | None:
    """The base converted to CTranslate2 fp32 (once, atomically), or None when ctranslate2 is missing or fails."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return None
    target = Path(models_dir) / "ct2-bases" / fingerprint
    if (target / "model.bin").exists():
        return target
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    try:
        from ctranslate2.converters import TransformersConverter

        target.parent.mkdir(parents=True, exist_ok=True)
        TransformersConverter(str(base_path)).convert(str(staging), quantization="float32")
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (base_path / name).exists():
                shutil.copy2(base_path / name, staging / name)
        try:
            os.rename(staging, target)
        except OSError:  # another process published it first
            shutil.rmtree(staging, ignore_errors=True)
        return target
    except Exception as exc:  # noqa: BLE001 — the transformers path still works
        log.warning("could not convert the base to CTranslate2 (%s): sampling with transformers", exc)
        shutil.rmtree(staging, ignore_errors=True)
        return None


def sample_candidates(prompts: Sequence[str], *, model, tokenizer, base_path: Path, fingerprint: str,
                      models_dir: Path, params, max_source_length: int) -> tuple[list[list[str]], str]:
    """`params.num_candidates` sampled continuations per prompt (params: a generation SamplingParams), and the
    backend that wrote them. An implement prompt's candidates start with its signature, as the evaluation's do."""
    from rxt5_assets.generation.params import implement_signature

    prefixes = [implement_signature(p) for p in prompts]
    folder = _ct2_base(base_path, fingerprint, models_dir) if not _on_gpu(model) else None
    if folder is not None:
        from rxt5_assets.generation.ctranslate import CTranslate2Backend

        backend = CTranslate2Backend(folder, quantization="fp32", tokenizer=tokenizer,
                                     max_source_length=max_source_length, batch_size=32)
        return backend.generate(list(prompts), params, prefixes=prefixes), backend.name
    from rxt5_assets.training.generate import sample_texts

    return sample_texts(model, tokenizer, prompts, k=params.num_candidates, temperature=params.temperature,
                        top_p=params.top_p, seed=params.seed, max_new_tokens=params.max_new_tokens,
                        repetition_penalty=params.repetition_penalty, no_repeat_ngram_size=params.no_repeat_ngram_size,
                        max_source_length=max_source_length, decoder_prefixes=prefixes), "transformers"


def _on_gpu(model) -> bool:
    try:
        return next(model.parameters()).device.type != "cpu"
    except StopIteration:
        return False


def self_training_examples(examples: Sequence[Example], *, model, tokenizer, base_path: Path, fingerprint: str,
                           models_dir: Path, params, max_source_length: int) -> tuple[list[Example], dict[str, Any]]:
    """(new training rows, stats): the base's best valid candidate per org item prompt."""
    start = time.perf_counter()
    rows = item_prompts(examples)
    if not rows:
        return [], {"prompts": 0, "rows": 0}
    log.info("self-training: sampling %d candidates for each of %d item prompts of the training split ...",
             params.num_candidates, len(rows))
    candidates, backend = sample_candidates([e.input for e, _ in rows], model=model, tokenizer=tokenizer,
                                            base_path=base_path, fingerprint=fingerprint, models_dir=models_dir,
                                            params=params, max_source_length=max_source_length)
    chosen = select_valid(rows, candidates)
    prompts = Counter(e.language for e, _ in rows)
    kept = Counter(e.language for e in chosen)
    stats = {"prompts": len(rows), "rows": len(chosen), "k": params.num_candidates, "backend": backend,
             "seconds": round(time.perf_counter() - start, 1),
             "per_language": {lang: {"prompts": prompts[lang], "rows": kept[lang]} for lang in sorted(prompts)}}
    log.info("self-training: %d of %d prompts gave a valid item (%s) in %.0f s on %s", len(chosen), len(rows),
             ", ".join(f"{lang} {kept[lang]}/{prompts[lang]}" for lang in sorted(prompts)), stats["seconds"],
             backend)
    return chosen, stats


def write_rows(path: Path, rows: Sequence[Example], stats: dict[str, Any]) -> None:
    """The rows as training JSONL (atomically), and their stats next to them."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with tmp.open("w", encoding="utf-8") as fh:
        for e in rows:
            fh.write(json.dumps({"input": e.input, "target": e.target, "language": e.language, "task": e.task,
                                 "quality_score": e.quality_score, "source_id": e.source_id, **e.extra}) + "\n")
    os.replace(tmp, path)
    path.with_suffix(".stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")


def read_rows(path: Path) -> tuple[list[Example], dict[str, Any]]:
    from rxt5_assets.training.data import read_jsonl

    stats_path = path.with_suffix(".stats.json")
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.exists() else {}
    return (read_jsonl(path) if path.stat().st_size else []), stats
