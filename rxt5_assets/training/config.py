"""`TrainConfig`: every knob of a training run, in the style of HF's `run_summarization.py` argument dataclasses.

Each field carries a `help` string in its metadata; `cli.add_train_arguments` turns the seed's flags into a config, and the
model card / `TrainResult.hyperparameters` are written from `TrainConfig.hyperparameters()`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rxt5_assets.errors import UserFacingError

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")

DEMO = "demo"  # the demo base shipped in the package (pretrained on public Rust/Elixir code, never on the org's)
TINY = "tiny"  # a small T5 built from scratch on the org's own training file: an explicit option, for comparison
SMALL_BASES = (DEMO, TINY)  # bases of the demo profile: minutes on a CPU, their own epoch and LoRA defaults
PRODUCTION_BASE_MODEL = "Salesforce/codet5p-770m"


# The seed's settings for CodeT5+. The small demo bases need every linear layer and a 10x higher learning rate to
# learn in a few CPU minutes; a higher rate or rank lowers eval loss further but collapses generation onto a few
# generic items (measured: README "LoRA settings for the demo base"). The embeddings are tied to lm_head, and a LoRA
# on tied weights does not survive merge_and_unload (measured: loss 3.74 -> 3.96); peft's trainable tokens on the
# 2,000 most frequent training tokens do (same loss after the merge) and take Rust's eval loss from -6.7 % to -9.9 %.
PRODUCTION_DEFAULTS = {"epochs": 12.0, "learning_rate": 2e-4, "lora_target_modules": ("q", "v"), "lora_r": 16,
                       "lora_alpha": 32, "lora_trainable_tokens": 0, "replay_ratio": 0.0,
                       "fit_item_targets": False, "self_training_k": 0}
SMALL_BASE_DEFAULTS = {"epochs": 3.0, "learning_rate": 2e-3, "lora_target_modules": ("q", "k", "v", "o", "wi", "wo"),
                       "lora_r": 16, "lora_alpha": 32, "lora_trainable_tokens": 2000, "replay_ratio": 1.0,
                       "fit_item_targets": True, "self_training_k": 8}


def defaults_for_base(base_model: str) -> dict[str, Any]:
    """epochs, learning_rate, LoRA target modules, rank and alpha for a base: measured demo values for the small
    shipped/scratch bases, the seed's for anything else (CodeT5+)."""
    if base_model == DEMO:
        return dict(SMALL_BASE_DEFAULTS)
    if base_model in SMALL_BASES:  # `tiny` is built from the org's own data: no public replay set to mix in
        return {**SMALL_BASE_DEFAULTS, "replay_ratio": 0.0, "self_training_k": 0}
    return dict(PRODUCTION_DEFAULTS)


class TrainConfigError(UserFacingError, ValueError):
    """A training setting is out of range or inconsistent with another one."""


@dataclass
class TrainConfig:
    # ---- data -------------------------------------------------------------------------------------------------------
    train_file: Path = field(metadata={"help": "JSONL training file: one object a line with input, target, language, "
                                               "task, quality_score, source_id."})
    output_dir: Path = field(metadata={"help": "Where checkpoints (checkpoint-<step>/), the final adapter (adapter/) and "
                                               "its model card go."})
    models_dir: Path = field(metadata={"help": "Folder holding locally built base models (the `tiny` base is cached in "
                                               "<models_dir>/tiny). Required: nothing is written relative to the cwd."})
    eval_file: Path | None = field(default=None, metadata={"help": "JSONL held-out file; eval loss is computed on it "
                                                                   "after every epoch. None: no evaluation (never the "
                                                                   "training split)."})
    # ---- base model -------------------------------------------------------------------------------------------------
    base_model: str = field(default=DEMO, metadata={"help": "'demo' (the base shipped with rxt5, pretrained on public "
                                                            "Rust/Elixir code), 'tiny' (a small T5 built from "
                                                            "scratch on the training file, for comparison), "
                                                            "a Hugging Face id such as Salesforce/codet5p-770m (read "
                                                            "from the HF cache), or a local folder."})
    allow_download: bool = field(default=False, metadata={"help": "Let transformers download a Hugging Face base model "
                                                                  "that is not in the local cache. Off: nothing is "
                                                                  "ever fetched from the network."})
    tiny_base_max_seconds: float | None = field(default=120.0, metadata={"help": "Wall-clock budget for building the "
                                                                                 "tiny base the first time (it is then "
                                                                                 "cached in models_dir)."})
    tiny_base_max_steps: int | None = field(default=None, metadata={"help": "Step budget for building the tiny base "
                                                                            "(deterministic for a seed; overrides "
                                                                            "nothing, whichever budget ends first "
                                                                            "stops it)."})
    # ---- optimisation -----------------------------------------------------------------------------------------------
    epochs: float = field(default=12, metadata={"help": "Number of training epochs."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate (AdamW, linear decay)."})
    train_batch_size: int = field(default=8, metadata={"help": "Examples per device per step."})
    eval_batch_size: int = field(default=16, metadata={"help": "Examples per device per evaluation step."})
    gradient_accumulation: int = field(default=1, metadata={"help": "Micro-batches accumulated per optimizer step "
                                                                    "(effective batch = train_batch_size x this)."})
    max_source_length: int = field(default=320, metadata={"help": "Input tokens kept per example (longer inputs are "
                                                                  "truncated; shorter ones are not padded)."})
    max_target_length: int = field(default=128, metadata={"help": "Target tokens kept per example."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Fraction of the optimizer steps spent warming the "
                                                                "learning rate up."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimizer steps (a cap for "
                                                                  "tests and benchmarks; None: run all epochs)."})
    precision: Precision = field(default="auto", metadata={"help": "auto: bf16 on a CUDA GPU that supports it, else "
                                                                   "fp32. fp16 needs CUDA (it falls back to fp32 on "
                                                                   "CPU with a warning)."})
    seed: int = field(default=42, metadata={"help": "Seed for weighting, shuffling, LoRA init and dropout."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute each block's activations in the "
                                                                          "backward pass instead of keeping them: "
                                                                          "less memory (LoRA peak 0.41x on codet5p-"
                                                                          "220m's shape), one more forward per step."})
    # ---- LoRA -------------------------------------------------------------------------------------------------------
    lora: bool = field(default=True, metadata={"help": "Train a LoRA adapter (False: full fine-tuning)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: tuple[str, ...] = field(default=("q", "v"), metadata={"help": "T5 modules LoRA wraps."})
    replay_ratio: float = field(default=0.0, metadata={
        "help": "Mix in this many rows of the base's own public pretraining examples per training row (rehearsal: "
                "the fine-tune keeps what the base knew). The demo base ships its replay set; 0: off."})
    replay_file: Path | None = field(default=None, metadata={
        "help": "JSONL(.gz) of replay rows in the training format (default: the base folder's replay.jsonl.gz)."})
    fit_item_targets: bool = field(default=False, metadata={
        "help": "Give a whole-item training target longer than max_target_length as its longest closed prefix that "
                "fits (the item cut after a field, variant, function or expression and closed by its own `}`/`end` "
                "line) instead of a cut that never closes (training.fit). The eval split is never changed."})
    self_training_k: int = field(default=0, metadata={
        "help": "Self-training on valid samples: the base writes K candidates for every implement/generate prompt "
                "of the training split, and the strict-valid one closest to the reference (chrF) joins the training "
                "rows (training.self_training; parsed, never run). 0: off."})
    lora_trainable_tokens: int = field(default=0, metadata={
        "help": "Also train the embeddings of the N tokens seen most often in the training split (peft trainable "
                "tokens; the org's identifiers live there, and LoRA on linear layers cannot reach them). 0: off."})
    init_adapter: Path | None = field(default=None, metadata={
        "help": "Continue from this LoRA adapter (continuous learning: its weights start the new adapter, its LoRA "
                "shape replaces lora_r/alpha/targets); it must have been trained on the same base weights."})
    # ---- language mix -----------------------------------------------------------------------------------------------
    cross_language_learning: bool = field(default=True, metadata={"help": "Keep cross-language rows (language "
                                                                          "'rust->elixir' etc.). False drops them."})
    rust_weight: float = field(default=1.0, metadata={"help": "Expected copies of each Rust example in an epoch "
                                                              "(0 drops Rust, 2 doubles it)."})
    elixir_weight: float = field(default=1.0, metadata={"help": "Expected copies of each Elixir example in an epoch."})
    cross_language_weight: float = field(default=1.0, metadata={"help": "Expected copies of each cross-language "
                                                                        "example in an epoch."})
    # ---- logging / checkpoints --------------------------------------------------------------------------------------
    logging_steps: int = field(default=10, metadata={"help": "Report training loss every N optimizer steps."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Epoch checkpoints kept in output_dir (oldest "
                                                                      "deleted first; None keeps all)."})
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in output_dir (starts "
                                                          "fresh, saying so, when there is none)."})
    # ---- generation (eval-time / model card defaults) ----------------------------------------------------------------
    generation_max_new_tokens: int = field(default=128, metadata={"help": "Tokens generated per input at evaluation."})
    generation_num_beams: int = field(default=1, metadata={"help": "Beam width for generation (1 = greedy)."})
    generation_repetition_penalty: float = field(default=1.2, metadata={"help": "Repetition penalty for generation "
                                                                                "(tiny models loop without it)."})

    def __post_init__(self) -> None:
        self.train_file = Path(self.train_file)
        self.output_dir = Path(self.output_dir)
        self.models_dir = Path(self.models_dir)
        if self.eval_file is not None:
            self.eval_file = Path(self.eval_file)
        self.lora_target_modules = tuple(self.lora_target_modules)
        if self.replay_file is not None:
            self.replay_file = Path(self.replay_file)
        if self.init_adapter is not None:
            self.init_adapter = Path(self.init_adapter)
        self.validate()

    def validate(self) -> None:
        problems: list[str] = []
        for f in dataclasses.fields(self):  # inf / nan reach PostgreSQL as "Infinity" tokens and the trainer as nonsense
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{f.name} must be a finite number (got {value})")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})")
        for name in ("epochs", "learning_rate"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0 (got {getattr(self, name)})")
        for name in ("train_batch_size", "eval_batch_size", "gradient_accumulation", "max_source_length",
                     "max_target_length", "logging_steps", "lora_r", "generation_max_new_tokens",
                     "generation_num_beams"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1 (got {getattr(self, name)})")
        for name in ("rust_weight", "elixir_weight", "cross_language_weight", "weight_decay"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0 (got {getattr(self, name)})")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1) (got {self.warmup_ratio})")
        if not 0 <= self.lora_dropout < 1:
            problems.append(f"lora_dropout must be in [0, 1) (got {self.lora_dropout})")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"max_steps must be >= 1 or None (got {self.max_steps})")
        if self.save_total_limit is not None and self.save_total_limit < 1:
            problems.append(f"save_total_limit must be >= 1 or None (got {self.save_total_limit})")
        if self.replay_ratio < 0:
            problems.append(f"replay_ratio must be >= 0 (got {self.replay_ratio})")
        if self.replay_file is not None and not self.replay_file.is_file():
            problems.append(f"replay_file {self.replay_file} does not exist")
        if self.self_training_k < 0:
            problems.append(f"self_training_k must be >= 0 (got {self.self_training_k})")
        if self.lora_trainable_tokens < 0:
            problems.append(f"lora_trainable_tokens must be >= 0 (got {self.lora_trainable_tokens})")
        if self.lora and not self.lora_target_modules:
            problems.append("lora_target_modules is empty")
        if self.init_adapter is not None:
            if not self.lora:
                problems.append("init_adapter continues a LoRA adapter: it needs lora=True")
            elif not (self.init_adapter / "adapter_config.json").is_file():
                problems.append(f"init_adapter {self.init_adapter} holds no adapter_config.json")
        if problems:
            raise TrainConfigError("invalid training config: " + "; ".join(problems))

    def language_weight(self, language: str) -> float:
        """Expected copies per example of `language` (pairs such as 'rust->elixir' get cross_language_weight)."""
        if "->" in language:
            return self.cross_language_weight if self.cross_language_learning else 0.0
        return {"rust": self.rust_weight, "elixir": self.elixir_weight}.get(language, 1.0)

    def hyperparameters(self) -> dict[str, Any]:
        """The settings that shape the model (what a model card and a model-version row record)."""
        keys = ("base_model", "epochs", "learning_rate", "train_batch_size", "gradient_accumulation",
                "max_source_length", "max_target_length", "warmup_ratio", "weight_decay", "max_grad_norm", "max_steps",
                "precision", "seed", "gradient_checkpointing", "lora", "lora_r", "lora_alpha", "lora_dropout",
                "lora_target_modules", "lora_trainable_tokens", "replay_ratio", "replay_file",
                "fit_item_targets", "self_training_k", "cross_language_learning", "rust_weight", "elixir_weight",
                "cross_language_weight", "init_adapter")
        out = {k: getattr(self, k) for k in keys}
        out["lora_target_modules"] = list(self.lora_target_modules)
        out["init_adapter"] = str(self.init_adapter) if self.init_adapter is not None else None
        out["replay_file"] = str(self.replay_file) if self.replay_file is not None else None
        return out

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, Path):
                out[k] = str(v)
            elif isinstance(v, tuple):
                out[k] = list(v)
        return out

    @classmethod
    def field_help(cls, name: str) -> str:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}[name]
