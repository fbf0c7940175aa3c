"""Dagster resources: where the database and rxt5's files are.

Both default to the library's call-time resolution (RXT5_DATABASE_URL / RXT5_HOME, else the embedded server in ./.rxt5),
so the Definitions load with nothing set; Dagit's launchpad can override either per run.
"""


from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource
from pydantic import Field

from rxt5_assets.db import Database, rxt5_home
from rxt5_assets.db.connection import secure_umask


class DatabaseResource(ConfigurableResource):
    """rxt5's PostgreSQL. Leave `database_url` unset to use RXT5_DATABASE_URL, else the embedded server."""

    database_url: Optional[str] = Field(
        default=None, description="PostgreSQL DSN; unset: $RXT5_DATABASE_URL, else the embedded server in rxt5 home. "
                                  "A DSN with a password belongs in the environment (EnvVar), never in run config, "
                                  "which Dagit shows to every user"
    )
    home: Optional[str] = Field(default=None, description="RXT5_HOME override (holds the embedded server's data)")

    def setup_for_execution(self, context) -> None:
        secure_umask()  # what the step writes (datasets of the org's code, adapters) is private to the user

    def database(self) -> Database:
        return Database(self.database_url, self.home)


class WorkspaceResource(ConfigurableResource):
    """The folders rxt5 writes: datasets, models, training runs — all under RXT5_HOME."""

    home: Optional[str] = Field(default=None, description="RXT5_HOME override (default $RXT5_HOME, else ./.rxt5)")

    def setup_for_execution(self, context) -> None:
        secure_umask()  # files 0600, folders 0700: datasets of the org's code are not world-readable

    @property
    def root(self) -> Path:
        return rxt5_home(self.home)

    def folder(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path


class DataPreparationResource(ConfigurableResource):
    """The seed's `prepare_multi_language_training` options, shared by every data asset of one run."""

    name: str = Field(default="rust_elixir_v1", description="training session name")
    languages: list[str] = Field(default=["rust", "elixir"], description="languages to train on")
    max_examples: int = Field(default=20000, description="cap on training examples (the seed's max_examples)")
    quality_threshold: float = Field(default=0.7, description="minimum quality score of a kept chunk, in [0, 1]")
    cross_language_learning: bool = Field(default=True, description="build Rust↔Elixir pairs and transfer examples")
    min_length: int = Field(default=50, description="the seed's LENGTH(content) >= 50")
    exclude_path_pattern: str = Field(default="%test%", description="the seed's file_path NOT LIKE pattern")
    rust_weight: float = Field(default=1.0, description="relative share of Rust examples in the training set")
    elixir_weight: float = Field(default=1.0, description="relative share of Elixir examples in the training set")
    cross_language_weight: float = Field(default=1.0, description="relative share of transfer (pair) examples")
    pair_threshold: float = Field(default=0.35, description="minimum match score of a Rust↔Elixir pair")
    eval_fraction: float = Field(default=0.1, description="share of files held out for evaluation")
    min_examples: int = Field(default=50, description="fewest training examples per language before failing")
    quality_baseline: float = Field(default=0.4, description="score of a clean chunk with no positive indicator")
    quality_saturation: float = Field(default=2.0, description="weighted indicator sum that reaches a score of 1")
    indicator_weights: dict[str, dict[str, float]] = Field(
        default={}, description="per-language indicator weight overrides, e.g. {'rust': {'tests': 1.0}}")
    seed: int = Field(default=42, description="seed of every sampling decision")
    workers: int = Field(default=0, description="processes for parsing (0: one per available core)")
    batch_size: int = Field(default=20000, description="code_chunks rows streamed, analysed and written per batch: "
                                                       "the preprocessing's memory follows it, not the table")
    analysis_cache: bool = Field(default=True, description="reuse stored per-chunk analyses (chunk_analyses): a "
                                                           "materialization analyses only chunks it has not seen")


class TrainingResource(ConfigurableResource):
    """Base model and fine-tuning settings of the model stage (the seed's `fine_tune` options)."""

    base_model: str = Field(default="demo", description="'demo' (shipped with rxt5, pretrained on public Rust/Elixir "
                                                        "code), 'tiny' (built from scratch on the org's training "
                                                        "data, for comparison), an HF id such as "
                                                        "Salesforce/codet5p-770m (from the HF cache), or a local path")
    allow_download: bool = Field(default=False, description="let transformers download a missing HF base model")
    epochs: Optional[float] = Field(
        default=None, description="training epochs; unset: the seed's 12 for a CodeT5+ base, the measured demo "
                                  "default for `demo`/`tiny` (see README: the demo graph runs in minutes)")
    learning_rate: Optional[float] = Field(
        default=None, description="peak learning rate; unset: the seed's 2e-4 for a CodeT5+ base, the measured demo "
                                  "default for `demo`/`tiny`")
    train_batch_size: int = Field(default=8, description="examples per step")
    gradient_accumulation: int = Field(default=1, description="micro-batches per optimizer step")
    lora: bool = Field(default=True, description="LoRA adapter (False: full fine-tuning)")
    lora_r: Optional[int] = Field(default=None, description="LoRA rank; unset: 16 (the seed's) for CodeT5+, the "
                                                            "measured demo default for `demo`/`tiny`")
    lora_alpha: Optional[int] = Field(default=None, description="LoRA alpha; unset: twice the default rank")
    lora_dropout: float = Field(default=0.05, description="LoRA dropout")
    replay_ratio: Optional[float] = Field(
        default=None, description="rows of the base's own public pretraining examples mixed in per training row "
                                  "(rehearsal); unset: 1.0 for the shipped demo base (measured), 0 otherwise")
    fit_item_targets: Optional[bool] = Field(
        default=None, description="a whole-item training target longer than max_target_length becomes its longest "
                                  "closed prefix that fits, not a cut that never closes; unset: the measured "
                                  "default for the base (README)")
    self_training_k: Optional[int] = Field(
        default=None, description="self-training on valid samples: K base candidates per item prompt of the training "
                                  "split, the strict-valid one closest to the reference joins the rows; 0: off; "
                                  "unset: the measured default for the base (8 for demo, 0 for CodeT5+)")
    lora_trainable_tokens: Optional[int] = Field(
        default=None, description="also train the embeddings of the N most frequent training tokens (peft trainable "
                                  "tokens); unset: 0 for CodeT5+, the measured demo default for `demo`/`tiny`")
    lora_target_modules: Optional[list[str]] = Field(
        default=None, description="T5 modules LoRA wraps; unset: q,v (the seed's) for CodeT5+, the measured demo "
                                  "default for `demo`/`tiny`")
    gradient_checkpointing: bool = Field(default=False, description="recompute activations in the backward pass: "
                                         "less memory (LoRA peak 0.41x on codet5p-220m's shape), slower steps")
    processes: int = Field(default=1, description="training processes on this machine: N > 1 runs the step under "
                                                  "torch.distributed (DDP), one process per GPU (gloo on CPU)")
    continue_from_active: bool = Field(
        default=True, description="continuous learning: start the new adapter from the active version's adapter "
                                  "(same base only; else fresh from the base). On by measurement "
                                  "(bench/bench_continual.py: lower eval loss than a fresh retrain on old and new "
                                  "repos, both languages; README)")
    precision: str = Field(default="auto", description="auto (bf16 on a capable GPU, else fp32), fp32, bf16")
    max_steps: Optional[int] = Field(default=None, description="cap on optimizer steps (None: all epochs)")
    tiny_base_max_seconds: float = Field(default=120.0, description="budget for building the tiny base once")
    tiny_base_max_steps: Optional[int] = Field(default=None, description="step budget for building the tiny base")
    logging_steps: int = Field(default=10, description="a t5_training_progress row every N steps")
    seed: int = Field(default=42, description="seed of the run")
    wait_for_lock: bool = Field(default=False, description="when another trainer holds this run's session or run "
                                "folder: wait for it (True) or fail at once naming it (False)")

    def train_defaults(self) -> dict:
        """epochs, learning_rate and the LoRA shape as configured, else the defaults for this base."""
        from rxt5_assets.training.config import defaults_for_base

        chosen = {"epochs": self.epochs, "learning_rate": self.learning_rate,
                  "lora_target_modules": tuple(self.lora_target_modules) if self.lora_target_modules else None,
                  "lora_r": self.lora_r, "lora_alpha": self.lora_alpha,
                  "lora_trainable_tokens": self.lora_trainable_tokens, "replay_ratio": self.replay_ratio,
                  "fit_item_targets": self.fit_item_targets, "self_training_k": self.self_training_k}
        return {**defaults_for_base(self.base_model), **{k: v for k, v in chosen.items() if v is not None}}
