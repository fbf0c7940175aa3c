"""The training layer: JSONL in, a LoRA adapter (or full model) out. Pure library: no Dagster, no database.

    from rxt5_assets.training import TrainConfig, train, MemorySink
    result = train(TrainConfig(train_file=..., eval_file=..., output_dir=..., models_dir=...), progress=MemorySink())

Modules: config (TrainConfig), data (JSONL + language weights), tokenizer + tiny (the locally built `tiny` base),
base_model (loading bases offline), trainer (train / TrainResult), metrics (eval loss per language and task, train-loss
means), distributed (ranks under torchrun / accelerate launch), progress (records, sinks, callback), cli (the
`rxt5 train` flags), generate (reloading an adapter and generating), synthetic (template data for tests and benches).

Names are imported lazily, so `import rxt5_assets.training` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "config",
    "TrainConfigError": "config",
    "Example": "data",
    "LanguageMix": "data",
    "TrainingDataError": "data",
    "read_jsonl": "data",
    "load_training_examples": "data",
    "build_tiny_base": "tiny",
    "ensure_tiny_base": "tiny",
    "TinyBaseSpec": "tiny",
    "train_bpe_tokenizer": "tokenizer",
    "BaseModelNotFoundError": "base_model",
    "load_base_model": "base_model",
    "train": "trainer",
    "TrainResult": "trainer",
    "ProgressRecord": "progress",
    "ProgressSink": "progress",
    "ProgressCallback": "progress",
    "MemorySink": "progress",
    "LoggingSink": "progress",
    "add_train_arguments": "cli",
    "config_from_args": "cli",
    "load_trained": "generate",
    "AdapterMismatchError": "generate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
