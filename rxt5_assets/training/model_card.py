"""The model card (README.md) written next to a trained adapter."""

from __future__ import annotations

import json
from typing import Any


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return str(v)


def render_model_card(*, base_model: str, base_model_path: str, is_lora: bool, mix: dict[str, Any],
                      eval_counts: dict[str, int], hyperparameters: dict[str, Any], metrics: dict[str, Any],
                      loss_history: list[dict[str, Any]]) -> str:
    kind = "LoRA adapter" if is_lora else "fully fine-tuned model"
    front = {
        "library_name": "peft" if is_lora else "transformers",
        "base_model": base_model,
        "pipeline_tag": "text2text-generation",
        "tags": ["rxt5", "code", "rust", "elixir", "t5"] + (["lora"] if is_lora else []),
    }
    lines = ["---"]
    for k, v in front.items():
        lines.append(f"{k}: {json.dumps(v)}")
    lines += ["---", "", f"# rxt5 {kind} on `{base_model}`", "",
              f"A {kind} for Rust and Elixir code generation, trained by rxt5 on `{base_model}` "
              f"(`{base_model_path}`)." + (" Only the adapter weights are stored here; load them onto the identical "
                                           "base (`rxt5_assets.training.generate.load_trained`)." if is_lora else ""),
              "", "## Data", "", "| language | rows read | rows trained (after weighting) | eval rows |",
              "|---|---:|---:|---:|"]
    langs = sorted(set(mix.get("read_per_language", {})) | set(mix.get("per_language", {})) | set(eval_counts))
    for lang in langs:
        lines.append(f"| {lang} | {mix.get('read_per_language', {}).get(lang, 0)} | "
                     f"{mix.get('per_language', {}).get(lang, 0)} | {eval_counts.get(lang, 0)} |")
    lines.append(f"| **total** | {sum(mix.get('read_per_language', {}).values())} | {mix.get('total', 0)} | "
                 f"{sum(eval_counts.values())} |")
    if mix.get("dropped_cross_language"):
        lines += ["", f"{mix['dropped_cross_language']} cross-language rows were dropped (cross-language learning off)."]
    lines += ["", "| task | rows trained |", "|---|---:|"]
    for task, n in mix.get("per_task", {}).items():
        lines.append(f"| {task} | {n} |")
    lines += ["", "## Hyperparameters", "", "| setting | value |", "|---|---|"]
    for k, v in hyperparameters.items():
        lines.append(f"| {k} | {_fmt(v)} |")
    lines += ["", "## Results", "", "| metric | value |", "|---|---|"]
    for k, v in metrics.items():
        lines.append(f"| {k} | {_fmt(v)} |")
    evals = [h for h in loss_history if "eval_loss" in h]
    if evals:
        lines += ["", "### Eval loss per epoch", "", "| epoch | step | eval loss |", "|---:|---:|---:|"]
        for h in evals:
            lines.append(f"| {_fmt(h.get('epoch'))} | {h.get('step')} | {_fmt(h['eval_loss'])} |")
    lines += ["", "## Use", "", "```python", "from rxt5_assets.training.generate import load_trained, generate",
              "model, tokenizer = load_trained(adapter_dir, models_dir)",
              "print(generate(model, tokenizer, [\"// rust: implement\\n/// Adds two numbers.\\n"
              "pub fn add(a: i32, b: i32) -> i32\"], max_new_tokens=64))", "```", ""]
    return "\n".join(lines)
