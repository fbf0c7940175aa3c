"""Loading a trained adapter (or fully fine-tuned model) and generating with it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from rxt5_assets.errors import UserFacingError
from rxt5_assets.training.base_model import load_base_model
from rxt5_assets.training.tiny import weights_fingerprint
from rxt5_assets.training.trainer import TRAINING_METADATA

log = logging.getLogger(__name__)


class AdapterMismatchError(UserFacingError, RuntimeError):
    """The base found for an adapter is not the one it was trained on (different weights)."""


def read_training_metadata(adapter_dir: Path | str) -> dict[str, Any]:
    p = Path(adapter_dir) / TRAINING_METADATA
    return json.loads(p.read_text()) if p.is_file() else {}


def load_trained(adapter_dir: Path | str, models_dir: Path | str, *, allow_download: bool = False,
                 check_fingerprint: bool = True, device: str | None = None) -> tuple[Any, Any]:
    """`_load_trained` under the process-wide model-load lock (base_model.MODEL_LOAD_LOCK)."""
    from rxt5_assets.training.base_model import MODEL_LOAD_LOCK

    with MODEL_LOAD_LOCK:
        return _load_trained(adapter_dir, models_dir, allow_download=allow_download,
                             check_fingerprint=check_fingerprint, device=device)


def _load_trained(adapter_dir: Path | str, models_dir: Path | str, *, allow_download: bool = False,
                  check_fingerprint: bool = True, device: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) ready for generation, in eval mode.

    A LoRA adapter folder (adapter_config.json) is loaded with `PeftModel.from_pretrained` onto its base: the base named
    in rxt5_training.json ('tiny' resolves to `<models_dir>/tiny`), else the adapter config's base_model_name_or_path.
    With `check_fingerprint`, the base's weights must match the fingerprint recorded at training time. A folder holding a
    full model (config.json, from lora=False) is loaded directly.
    """
    from peft import PeftModel
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    adapter_dir = Path(adapter_dir)
    if not adapter_dir.is_dir():
        raise FileNotFoundError(f"{adapter_dir}: no such adapter folder")
    meta = read_training_metadata(adapter_dir)
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    if (adapter_dir / "adapter_config.json").is_file():
        base_name = meta.get("base_model")
        if not base_name:
            base_name = json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
        base, _ = load_base_model(base_name, models_dir=models_dir, allow_download=allow_download)
        expected = meta.get("base_fingerprint")
        if check_fingerprint and expected:
            got = weights_fingerprint(base)
            if got != expected:
                raise AdapterMismatchError(
                    f"{adapter_dir} was trained on base {base_name!r} with weights fingerprint {expected}, but the base "
                    f"found now has {got}: the adapter would load onto different weights. Restore the original base "
                    f"(for 'tiny': the folder {Path(models_dir) / 'tiny'} it was trained on) or retrain.")
        model = PeftModel.from_pretrained(base, adapter_dir)
    elif (adapter_dir / "config.json").is_file():
        model = AutoModelForSeq2SeqLM.from_pretrained(adapter_dir)
    else:
        raise FileNotFoundError(f"{adapter_dir} holds neither adapter_config.json nor config.json")
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def prefix_token_ids(tokenizer, prefix: str | None) -> list[int]:
    """A decoder prefix as target-side token ids, without special tokens ([] for none)."""
    return tokenizer(text_target=prefix, add_special_tokens=False)["input_ids"] if prefix else []


@torch.no_grad()
def generate_ids(model, tokenizer, inputs: Sequence[str], *, max_new_tokens: int = 128, num_beams: int = 1,
                 repetition_penalty: float = 1.2, max_source_length: int = 512, batch_size: int = 16,
                 decoder_prefixes: Sequence[str | None] | None = None, **generate_kwargs: Any) -> list[list[int]]:
    """Generated token ids per input (greedy unless num_beams > 1 or sampling kwargs are passed); with
    num_return_sequences=k, k rows per input, in input order.

    `decoder_prefixes` (one per input, None for none): the output starts with that text — the decoder is fed it after
    its start token and continues from there (an `implement` prompt's signature: the item must implement the
    signature it was given). The prefix counts toward `max_new_tokens`, so every output has the same token budget."""
    if decoder_prefixes is not None and any(decoder_prefixes):
        return _generate_with_prefixes(model, tokenizer, inputs, decoder_prefixes, max_new_tokens=max_new_tokens,
                                       num_beams=num_beams, repetition_penalty=repetition_penalty,
                                       max_source_length=max_source_length, batch_size=batch_size,
                                       **generate_kwargs)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[list[int]] = []
    try:
        for i in range(0, len(inputs), batch_size):
            enc = tokenizer(list(inputs[i:i + batch_size]), max_length=max_source_length, truncation=True,
                            padding=True, return_tensors="pt").to(device)
            kwargs = dict(max_new_tokens=max_new_tokens, num_beams=num_beams, repetition_penalty=repetition_penalty)
            kwargs.setdefault("do_sample", False)
            kwargs.update(generate_kwargs)
            ids = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **kwargs)
            out.extend(row.tolist() for row in ids.cpu())
    finally:
        if was_training:
            model.train()
    return out


def _generate_with_prefixes(model, tokenizer, inputs: Sequence[str], prefixes: Sequence[str | None], *,
                            max_new_tokens: int, batch_size: int, **kwargs: Any) -> list[list[int]]:
    """generate_ids with a decoder prefix per input: inputs are grouped by prefix length (a batch's decoder inputs
    must line up, and left-padding them would shift T5's relative positions), each group in batches of batch_size."""
    import torch

    k = int(kwargs.get("num_return_sequences", 1))
    tokens = [prefix_token_ids(tokenizer, p) for p in prefixes]
    start = model.config.decoder_start_token_id
    device = next(model.parameters()).device
    groups: dict[int, list[int]] = {}
    for i, ids in enumerate(tokens):
        groups.setdefault(len(ids), []).append(i)
    out: list[list[int]] = [[] for _ in range(len(inputs) * k)]
    for length, members in sorted(groups.items()):
        for j in range(0, len(members), batch_size):
            chunk = members[j:j + batch_size]
            extra = {"decoder_input_ids": torch.tensor([[start, *tokens[i]] for i in chunk], device=device)} \
                if length else {}
            rows = generate_ids(model, tokenizer, [inputs[i] for i in chunk],
                                max_new_tokens=max(1, max_new_tokens - length), batch_size=len(chunk),
                                **kwargs, **extra)
            for n, i in enumerate(chunk):
                out[i * k:(i + 1) * k] = rows[n * k:(n + 1) * k]
    return out


def sample_texts(model, tokenizer, inputs: Sequence[str], *, k: int, temperature: float, top_p: float, seed: int,
                 decoder_prefixes: Sequence[str | None] | None = None, **generate_kwargs: Any) -> list[list[str]]:
    """k sampled generations per input, in input order; torch seeded with `seed` first, and the inputs run sorted
    by length so batches pad little (`generate_kwargs` as for generate_ids: max_new_tokens, batch_size, ...)."""
    import torch

    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    prefixes = [decoder_prefixes[i] for i in order] if decoder_prefixes is not None else None
    ids = generate_ids(model, tokenizer, [inputs[i] for i in order], do_sample=True, temperature=temperature,
                       top_p=top_p, num_return_sequences=k, decoder_prefixes=prefixes, **generate_kwargs)
    flat = tokenizer.batch_decode(ids, skip_special_tokens=True)
    out: list[list[str]] = [[] for _ in inputs]
    for position, i in enumerate(order):
        out[i] = flat[position * k:(position + 1) * k]
    return out


def generate(model, tokenizer, inputs: Sequence[str], max_new_tokens: int = 128, num_beams: int = 1,
             repetition_penalty: float = 1.2, **generate_kwargs: Any) -> list[str]:
    """Decoded generations, one string per input."""
    ids = generate_ids(model, tokenizer, inputs, max_new_tokens=max_new_tokens, num_beams=num_beams,
                       repetition_penalty=repetition_penalty, **generate_kwargs)
    return tokenizer.batch_decode(ids, skip_special_tokens=True)
