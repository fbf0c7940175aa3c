"""Decoding backends: one interface over plain transformers and the fast CPU path (CTranslate2).

A backend turns prompts into k candidate strings each. The engine (quality gating, retrieval, language parameters) is
written against `GenerationBackend` only, so the serving path can change without touching it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

_SEED_LOCK = threading.Lock()


@dataclass(frozen=True)
class SamplingParams:
    """How one request decodes. `num_candidates` > 1 samples (temperature/top_p); 1 with do_sample False is greedy."""

    max_new_tokens: int = 128
    temperature: float = 0.8
    top_p: float = 0.95
    repetition_penalty: float = 1.2
    num_candidates: int = 1
    do_sample: bool = False
    seed: int | None = None
    no_repeat_ngram_size: int = 4  # 0: off (chosen on the public held-out split: README "Decoding")


class GenerationBackend(Protocol):
    #: short name reported in results and /version ("transformers-fp32", "ctranslate2-int8", ...)
    name: str

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 prefixes: Sequence[str | None] | None = None) -> list[list[str]]:
        """For each prompt, `params.num_candidates` decoded strings (special tokens skipped); `prefixes` (one per
        prompt, None for none): text each output starts with (the decoder continues from it)."""
        ...


class TransformersBackend:
    """`model.generate` on a loaded (model, tokenizer): the reference path, and the fallback for any device."""

    def __init__(self, model: Any, tokenizer: Any, *, max_source_length: int = 512):
        self.model = model
        self.tokenizer = tokenizer
        self.max_source_length = max_source_length
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.name = f"transformers-{ {'float32': 'fp32', 'bfloat16': 'bf16', 'float16': 'fp16'}.get(dtype, dtype)}"

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 prefixes: Sequence[str | None] | None = None) -> list[list[str]]:
        import torch

        from rxt5_assets.training.generate import generate_ids

        k = max(1, params.num_candidates)
        sample = params.do_sample or k > 1
        kwargs: dict[str, Any] = {}
        if sample:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p,
                          num_return_sequences=k)

        def run():
            return generate_ids(self.model, self.tokenizer, list(prompts), max_new_tokens=params.max_new_tokens,
                                repetition_penalty=params.repetition_penalty,
                                max_source_length=self.max_source_length, decoder_prefixes=prefixes,
                                no_repeat_ngram_size=params.no_repeat_ngram_size, **kwargs)

        if sample and params.seed is not None:
            with _SEED_LOCK:  # torch's generator is process-wide: a seeded call must not interleave with another
                torch.manual_seed(params.seed)
                ids = run()
        else:
            ids = run()
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        per = k if sample else 1
        return [texts[i * per:(i + 1) * per] for i in range(len(prompts))]


def load_backend(deployment_folder: str | Path, *, kind: str = "auto", device: str | None = None,
                 home: str | Path | None = None) -> GenerationBackend:
    """The backend serving a deployment folder (`$RXT5_HOME/models/active` resolved, or any deployments/<version>).

    kind: "transformers" | "ctranslate2-int8" | "ctranslate2-fp32" | "auto" (the fast path on CPU when available,
    else transformers).
    """
    if kind.startswith("ctranslate2") or kind == "auto":
        try:
            from rxt5_assets.generation.ctranslate import load_ctranslate2_backend
        except ImportError:
            if kind != "auto":
                raise
        else:
            backend = load_ctranslate2_backend(deployment_folder, kind=kind, device=device, home=home)
            if backend is not None:
                return backend
    return _transformers_backend(deployment_folder, device=device, home=home)


def _transformers_backend(deployment_folder: str | Path, *, device: str | None, home) -> TransformersBackend:
    from rxt5_assets.evaluation.promotion import DEPLOYMENT_MANIFEST, load_deployed_model, models_root, read_manifest

    folder = Path(deployment_folder).resolve()
    manifest = read_manifest(folder)
    if manifest is None:
        raise FileNotFoundError(f"{folder / DEPLOYMENT_MANIFEST}: not a deployment folder")
    model, tokenizer = load_deployed_model(folder, manifest, models_dir=models_root(home), device=device)
    return TransformersBackend(model, tokenizer)
