"""Flags of `rxt5 train` (the seed's `train_rust_elixir_t5.py` flags, plus LoRA and safety knobs).

The lead mounts these on the `rxt5` parser:

    p = sub.add_parser("train", ...); add_train_arguments(p)
    cfg = config_from_args(ns, models_dir=home / "models"); result = train(cfg, progress=LoggingSink())
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rxt5_assets.training.config import (
    PRECISIONS, PRODUCTION_DEFAULTS, SMALL_BASE_DEFAULTS, TrainConfig, TrainConfigError, defaults_for_base,
)

_D = TrainConfig.__dataclass_fields__


def finite_float(text: str) -> float:
    """argparse type: a finite number (inf, nan and their spellings are rejected here, before anything runs)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _default(name: str):
    return _D[name].default


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    g = parser.add_argument_group("data")
    g.add_argument("--train-file", type=Path, required=True, metavar="JSONL",
                   help="training examples, one JSON object a line (input, target, language, task, quality_score, "
                        "source_id)")
    g.add_argument("--eval-file", type=Path, default=None, metavar="JSONL",
                   help="held-out examples; eval loss is computed on them after every epoch (default: no evaluation)")
    g.add_argument("--output-dir", type=Path, required=True, metavar="DIR",
                   help="where checkpoints and the final adapter (DIR/adapter) go")

    g = parser.add_argument_group("model")
    g.add_argument("--base-model", default=_default("base_model"), metavar="NAME|PATH",
                   help="'demo' (the base shipped with rxt5: a small T5 pretrained on public Rust and Elixir code), "
                        "'tiny' (a small T5 built from scratch on the training file, cached; for comparison), "
                        "a Hugging Face id such as "
                        "Salesforce/codet5p-770m (read from the local HF cache), or a local folder "
                        "(default: %(default)s)")
    g.add_argument("--allow-download", action="store_true",
                   help="allow downloading a Hugging Face base model missing from the local cache (off: nothing is "
                        "fetched from the network)")
    g.add_argument("--no-lora", dest="lora", action="store_false",
                   help="full fine-tuning instead of a LoRA adapter (much more memory; saves the whole model)")
    g.add_argument("--lora-r", type=int, default=None, metavar="R",
                   help=f"LoRA rank (default: {PRODUCTION_DEFAULTS['lora_r']} for a CodeT5+ base, "
                        f"{SMALL_BASE_DEFAULTS['lora_r']} for demo/tiny)")
    g.add_argument("--lora-alpha", type=int, default=None, metavar="A",
                   help="LoRA alpha; the update is scaled by alpha/r (default: twice the default rank)")
    g.add_argument("--lora-dropout", type=finite_float, default=_default("lora_dropout"), metavar="P",
                   help="dropout on the LoRA branch (default: %(default)s)")
    g.add_argument("--lora-target-modules", type=lambda text: tuple(m.strip() for m in text.split(",") if m.strip()),
                   default=None, metavar="M,M",
                   help=f"T5 modules LoRA wraps (default: {','.join(PRODUCTION_DEFAULTS['lora_target_modules'])} for "
                        f"a CodeT5+ base, the seed's; {','.join(SMALL_BASE_DEFAULTS['lora_target_modules'])} — every "
                        f"linear layer — for demo/tiny)")
    g.add_argument("--lora-trainable-tokens", type=int, default=None, metavar="N",
                   help="also train the embeddings of the N tokens seen most often in the training split (peft "
                        "trainable tokens: the org's identifiers live in the embeddings; the tie to lm_head is kept "
                        f"and merges) (default: {PRODUCTION_DEFAULTS['lora_trainable_tokens']} for a CodeT5+ base, "
                        f"{SMALL_BASE_DEFAULTS['lora_trainable_tokens']} for demo/tiny)")
    g.add_argument("--replay-ratio", type=finite_float, default=None, metavar="R",
                   help="mix in R rows of the base's own public pretraining examples per training row (rehearsal, "
                        "so the fine-tune keeps what the base knew) (default: "
                        f"{SMALL_BASE_DEFAULTS['replay_ratio']:g} for the demo base, which ships its replay set; "
                        f"{PRODUCTION_DEFAULTS['replay_ratio']:g} otherwise)")
    g.add_argument("--fit-item-targets", action=argparse.BooleanOptionalAction, default=None,
                   help="give a whole-item training target longer than --max-target-length as its longest closed "
                        "prefix that fits (cut after a field, variant, function or expression and closed by its own "
                        "`}`/`end` line) instead of a cut that never closes; the eval split is never changed "
                        f"(default: {'on' if SMALL_BASE_DEFAULTS['fit_item_targets'] else 'off'} for demo/tiny, "
                        f"{'on' if PRODUCTION_DEFAULTS['fit_item_targets'] else 'off'} for a CodeT5+ base)")
    g.add_argument("--self-training-k", type=int, default=None, metavar="K",
                   help="self-training on valid samples: the base writes K candidates per implement/generate prompt "
                        "of the training split and the strict-valid one closest to the reference joins the training "
                        f"rows; 0: off (default: {SMALL_BASE_DEFAULTS['self_training_k']} for demo/tiny, "
                        f"{PRODUCTION_DEFAULTS['self_training_k']} for a CodeT5+ base)")
    g.add_argument("--replay-file", type=Path, default=None, metavar="JSONL",
                   help="replay rows in the training format, .jsonl or .jsonl.gz (default: the base folder's "
                        "replay.jsonl.gz)")
    g.add_argument("--init-adapter", type=Path, default=None, metavar="DIR",
                   help="continue from this LoRA adapter folder (e.g. the active version's, $RXT5_HOME/models/active): "
                        "its weights start the new adapter; it must be trained on the same base weights")
    g.add_argument("--precision", choices=PRECISIONS, default=_default("precision"),
                   help="auto: bf16 on a CUDA GPU that supports it, else fp32 (default: %(default)s)")

    g = parser.add_argument_group("optimisation")
    g.add_argument("--epochs", type=finite_float, default=None, metavar="N",
                   help=f"training epochs (default: the seed's {PRODUCTION_DEFAULTS['epochs']:g} for a CodeT5+ base, "
                        f"{SMALL_BASE_DEFAULTS['epochs']:g} for demo/tiny)")
    g.add_argument("--learning-rate", type=finite_float, default=None, metavar="LR",
                   help=f"peak learning rate, linear warmup and decay (default: the seed's "
                        f"{PRODUCTION_DEFAULTS['learning_rate']:g} for a CodeT5+ base, "
                        f"{SMALL_BASE_DEFAULTS['learning_rate']:g} for demo/tiny)")
    g.add_argument("--train-batch-size", type=int, default=_default("train_batch_size"), metavar="N",
                   help="examples per step (default: %(default)s); lower it and raise --gradient-accumulation when "
                        "memory runs out")
    g.add_argument("--gradient-accumulation", type=int, default=_default("gradient_accumulation"), metavar="N",
                   help="micro-batches per optimizer step; effective batch = train batch size x N "
                        "(default: %(default)s)")
    g.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute activations in the backward pass instead of keeping them: less memory (LoRA's "
                        "peak 0.41x on codet5p-220m's shape) for longer sequences or bigger batches, one more forward "
                        "per step")
    g.add_argument("--max-steps", type=int, default=None, metavar="N",
                   help="stop after N optimizer steps (a cap for smoke tests; default: run all epochs)")
    g.add_argument("--seed", type=int, default=_default("seed"), help="random seed (default: %(default)s)")
    g.add_argument("--wait-for-lock", action="store_true",
                   help="when another trainer holds this --output-dir or session, wait for it instead of failing")
    g.add_argument("--resume", action="store_true",
                   help="continue from the last checkpoint in --output-dir (starts fresh, saying so, when there is "
                        "none)")

    g = parser.add_argument_group("language mix")
    g.add_argument("--cross-language-learning", dest="cross_language_learning", action="store_true",
                   default=_default("cross_language_learning"),
                   help="train on cross-language rows such as rust->elixir (default: on)")
    g.add_argument("--no-cross-language-learning", dest="cross_language_learning", action="store_false",
                   help="drop cross-language rows from training")
    g.add_argument("--rust-weight", type=finite_float, default=_default("rust_weight"), metavar="W",
                   help="expected copies of each Rust example per epoch; 0 drops Rust, 2 doubles it "
                        "(default: %(default)s)")
    g.add_argument("--elixir-weight", type=finite_float, default=_default("elixir_weight"), metavar="W",
                   help="expected copies of each Elixir example per epoch (default: %(default)s)")
    g.add_argument("--cross-language-weight", type=finite_float, default=_default("cross_language_weight"), metavar="W",
                   help="expected copies of each cross-language example per epoch (default: %(default)s)")
    return parser


def config_from_args(ns: argparse.Namespace, models_dir: Path | str, **overrides) -> TrainConfig:
    """A TrainConfig from parsed `rxt5 train` flags; `overrides` set any other TrainConfig field. Epochs, learning
    rate and LoRA target modules not given take the defaults of the chosen base (`defaults_for_base`)."""
    chosen = {"epochs": ns.epochs, "learning_rate": ns.learning_rate, "lora_target_modules": ns.lora_target_modules,
              "lora_r": ns.lora_r, "lora_alpha": ns.lora_alpha, "lora_trainable_tokens": ns.lora_trainable_tokens,
              "replay_ratio": ns.replay_ratio, "fit_item_targets": ns.fit_item_targets,
              "self_training_k": ns.self_training_k}
    kwargs = dict(
        **{**defaults_for_base(ns.base_model), **{k: v for k, v in chosen.items() if v is not None}},
        train_file=ns.train_file, eval_file=ns.eval_file, output_dir=ns.output_dir, models_dir=Path(models_dir),
        base_model=ns.base_model, allow_download=ns.allow_download, lora=ns.lora,
        lora_dropout=ns.lora_dropout, precision=ns.precision,
        train_batch_size=ns.train_batch_size,
        gradient_accumulation=ns.gradient_accumulation, max_steps=ns.max_steps, seed=ns.seed, resume=ns.resume,
        gradient_checkpointing=ns.gradient_checkpointing,
        cross_language_learning=ns.cross_language_learning, rust_weight=ns.rust_weight,
        elixir_weight=ns.elixir_weight, cross_language_weight=ns.cross_language_weight,
        init_adapter=ns.init_adapter, replay_file=ns.replay_file,
    )
    kwargs.update(overrides)
    return TrainConfig(**kwargs)


__all__ = ["add_train_arguments", "config_from_args", "TrainConfigError"]
