"""Real versions for the evaluation and promotion tests: a tiny base, an adapter that learned the synthetic tasks, and a
deliberately worse adapter trained on the same inputs with every target's characters shuffled (it learns to emit
garbage). Built once per module that needs them; each test registers them in its own fresh database.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rxt5_assets.training.synthetic import synthetic_examples, write_jsonl  # noqa: E402
from rxt5_assets_tests.training.conftest import one_torch_thread  # noqa: E402,F401 - the tests import it from here

BASE_STEPS = 12  # a base that is barely trained: a LoRA adapter on it has plenty to learn
ADAPTER_STEPS = 120  # a clear gain on the synthetic eval split: primary 0.0015 → 0.028 (60 steps gave 0.0105, under the 0.01 margin)
ALL_MODULES = ("q", "k", "v", "o", "wi", "wo")

# what the tests evaluate with: small, but the same code path as the asset
TEST_METRICS = ("bleu", "chrf", "rouge_l", "code_bleu", "strict_validity")


def small_settings(**overrides):
    from rxt5_assets.evaluation.runner import EvaluationSettings

    return EvaluationSettings(**{"max_rows": None, "k": 4, "max_new_tokens": 48, "metrics": TEST_METRICS,
                                 **overrides})


@dataclass
class Trained:
    folder: Path
    models_dir: Path
    train_file: Path
    eval_file: Path
    garbled_train_file: Path
    good: object = None  # TrainResult
    bad: object = None


def write_data(folder: Path) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    train_rows = synthetic_examples(96, seed=1, prefix="train")
    rng = random.Random(0)
    garbled = [dict(row, target="".join(rng.sample(row["target"], len(row["target"])))) for row in train_rows]
    return (write_jsonl(folder / "train.jsonl", train_rows),
            write_jsonl(folder / "eval.jsonl", synthetic_examples(18, seed=2, prefix="eval")),
            write_jsonl(folder / "garbled_train.jsonl", garbled))


def build_base(models_dir: Path, train_file: Path) -> None:
    from rxt5_assets.training.tiny import DEFAULT_SPEC, ensure_tiny_base

    spec = replace(DEFAULT_SPEC, batch_size=8, max_source_length=128, max_target_length=96, warmup_steps=2)
    ensure_tiny_base(models_dir, train_file, max_seconds=None, max_steps=BASE_STEPS, seed=0, spec=spec)


def adapter_config(train_file: Path, eval_file: Path, output_dir: Path, models_dir: Path, *,
                   steps: int = ADAPTER_STEPS):
    from rxt5_assets.training.config import TrainConfig

    return TrainConfig(train_file=train_file, eval_file=eval_file, output_dir=output_dir, models_dir=models_dir,
                       base_model="tiny", epochs=100, max_steps=steps, train_batch_size=8, learning_rate=5e-3,
                       max_source_length=128, max_target_length=96, logging_steps=10, warmup_ratio=0.0, seed=7,
                       tiny_base_max_seconds=None, tiny_base_max_steps=BASE_STEPS, lora_target_modules=ALL_MODULES)


def build_versions(folder: Path) -> Trained:
    """Base + good adapter + garbled adapter, as files (no database)."""
    from rxt5_assets.training.trainer import train

    train_file, eval_file, garbled = write_data(folder / "data")
    trained = Trained(folder, folder / "models", train_file, eval_file, garbled)
    with one_torch_thread():
        build_base(trained.models_dir, train_file)
        trained.good = train(adapter_config(train_file, eval_file, folder / "good", trained.models_dir))
        trained.bad = train(adapter_config(garbled, eval_file, folder / "bad", trained.models_dir))
    return trained


def register(conn, result, version: str, training_session_id: str | None = None) -> str:
    """A t5_model_versions row for a TrainResult, with the hyperparameters pipeline.train_and_register records."""
    from rxt5_assets.db.model_versions import register_version

    return register_version(
        conn, version=version, base_model=result.base_model, training_session_id=training_session_id,
        adapter_path=str(result.adapter_dir),
        hyperparameters={**result.hyperparameters, "base_model_path": result.base_model_path,
                         "base_fingerprint": result.base_fingerprint},
        performance_metrics={"eval_loss": result.eval_loss})
