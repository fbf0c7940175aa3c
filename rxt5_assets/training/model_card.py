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


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:+.1f}%"


def _loss_table(title: str, key: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["", f"### Eval loss per {title}", "",
             "The base's loss before the first step, the adapter's after the last; "
             "improvement = (base - final) / base.",
             "", f"| {key} | eval rows | base | final | improvement |", "|---|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r.get('examples', 0)} | {_fmt(r.get('base'))} | {_fmt(r.get('final'))} | "
                     f"{_pct(r.get('improvement'))} |")
    return lines


def render_model_card(*, base_model: str, base_model_path: str, is_lora: bool, mix: dict[str, Any],
                      eval_counts: dict[str, int], hyperparameters: dict[str, Any], metrics: dict[str, Any],
                      loss_history: list[dict[str, Any]], loss_by_language: dict[str, dict[str, Any]] | None = None,
                      loss_by_task: dict[str, dict[str, Any]] | None = None) -> str:
    """`loss_by_language` / `loss_by_task`: {group: {"examples", "base", "final", "improvement"}}."""
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
    if mix.get("self_training"):
        st = mix["self_training"]
        lines += ["", f"Self-training: the base's best valid sample (of {st.get('k')}) joined the training rows for "
                      f"{st.get('rows')} of {st.get('prompts')} item prompts ("
                      + ", ".join(f"{lang} {v['rows']}/{v['prompts']}" for lang, v in st.get("per_language", {}).items())
                      + ")."]
    if mix.get("fitted_item_targets"):
        ft = mix["fitted_item_targets"]
        lines += ["", f"Item targets over the target budget: {ft['over_budget']}; {ft['fitted']} trained as closed "
                      f"items (their longest closed prefix that fits), {ft['kept_cut']} cut."]
    if mix.get("dropped_cross_language"):
        lines += ["", f"{mix['dropped_cross_language']} cross-language rows were dropped (cross-language learning off)."]
    lines += ["", "| task | rows trained |", "|---|---:|"]
    for task, n in mix.get("per_task", {}).items():
        lines.append(f"| {task} | {n} |")
    lines += ["", "## Hyperparameters", "", "| setting | value |", "|---|---|"]
    for k, v in hyperparameters.items():
        lines.append(f"| {k} | {_fmt(v)} |")
    lines += ["", "## Results", "",
              "Losses are token-weighted mean cross-entropy on the eval file; the train loss means are over optimizer "
              "steps.", "", "| metric | value |", "|---|---|"]
    for k, v in metrics.items():
        lines.append(f"| {k} | {_pct(v) if k == 'relative improvement' else _fmt(v)} |")
    if loss_by_language:
        lines += _loss_table("language", "language", loss_by_language)
    if loss_by_task:
        lines += _loss_table("task", "task", loss_by_task)
    evals = [h for h in loss_history if "eval_loss" in h]
    if evals:
        lines += ["", "### Eval loss per epoch", "", "| epoch | step | eval loss |", "|---:|---:|---:|"]
        for h in evals:
            epoch = "base (before training)" if h.get("step") == 0 else _fmt(h.get("epoch"))
            lines.append(f"| {epoch} | {h.get('step')} | {_fmt(h['eval_loss'])} |")
    lines += ["", "## Use", "", "```python", "from rxt5_assets.training.generate import load_trained, generate",
              "model, tokenizer = load_trained(adapter_dir, models_dir)",
              "print(generate(model, tokenizer, [\"// rust: implement\\n/// Adds two numbers.\\n"
              "pub fn add(a: i32, b: i32) -> i32\"], max_new_tokens=64))", "```", ""]
    return "\n".join(lines)
