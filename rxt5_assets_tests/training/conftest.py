"""Shared fixtures of the training-layer tests: synthetic JSONL files and one tiny base built per session.

Everything is CPU, tiny, offline: HF_HUB_OFFLINE is set so no test can reach a model hub.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from rxt5_assets.training.synthetic import synthetic_examples, write_jsonl  # noqa: E402

TINY_BASE_STEPS = 12  # a few seconds: enough for a base that is not random, far from a useful model


def tiny_test_spec():
    """The production architecture with a test-sized recipe (short sequences, small batches, short warmup)."""
    from dataclasses import replace

    from rxt5_assets.training.tiny import DEFAULT_SPEC

    return replace(DEFAULT_SPEC, batch_size=8, max_source_length=128, max_target_length=96, warmup_steps=2)


@contextlib.contextmanager
def one_torch_thread():
    """Tiny models gain little from a second thread, and on a loaded machine torch's OpenMP threads spin-wait for
    each other (measured 5-7x slower with 2 threads than with 1 on a busy 2-core box): run single-threaded."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread_for_this_folder():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("training-data")
    write_jsonl(d / "train.jsonl", synthetic_examples(48, seed=1, prefix="train"))
    write_jsonl(d / "eval.jsonl", synthetic_examples(12, seed=2, prefix="eval"))
    write_jsonl(d / "small.jsonl", synthetic_examples(16, seed=3, prefix="small"))
    return d


@pytest.fixture(scope="session")
def train_file(data_dir) -> Path:
    return data_dir / "train.jsonl"


@pytest.fixture(scope="session")
def eval_file(data_dir) -> Path:
    return data_dir / "eval.jsonl"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory, train_file) -> Path:
    """A models_dir whose tiny base is built once for the whole session (deterministic: a step budget)."""
    from rxt5_assets.training.tiny import ensure_tiny_base

    d = tmp_path_factory.mktemp("models")
    with one_torch_thread():  # session fixtures are set up before the package-scoped thread setting
        ensure_tiny_base(d, train_file, max_seconds=None, max_steps=TINY_BASE_STEPS, seed=0, spec=tiny_test_spec())
    return d


@pytest.fixture
def make_config(train_file, eval_file, models_dir, tmp_path):
    """TrainConfig factory with test-sized defaults (2 epochs, batch 8, short sequences)."""
    from rxt5_assets.training.config import TrainConfig

    def make(**kw):
        base = dict(train_file=train_file, eval_file=eval_file, output_dir=tmp_path / "run", models_dir=models_dir,
                    base_model="tiny", epochs=2, train_batch_size=8, eval_batch_size=16, learning_rate=5e-3,
                    max_source_length=128, max_target_length=96, logging_steps=2, warmup_ratio=0.0, seed=7,
                    tiny_base_max_seconds=None, tiny_base_max_steps=TINY_BASE_STEPS)
        base.update(kw)
        return TrainConfig(**base)

    return make
