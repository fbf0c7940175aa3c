from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rxt5_assets.training.cli import add_train_arguments, config_from_args

SEED_COMMAND = ("--train-file data/rust_elixir/train.jsonl --eval-file data/rust_elixir/eval.jsonl "
                "--output-dir runs/codet5p-770m-rust-elixir --epochs 12 --learning-rate 2.0e-4 "
                "--cross-language-learning --rust-weight 1.0 --elixir-weight 1.0").split()


def _parser():
    return add_train_arguments(argparse.ArgumentParser(prog="rxt5 train"))


def test_the_seeds_command_line_parses(tmp_path):
    ns = _parser().parse_args(SEED_COMMAND)
    cfg = config_from_args(ns, models_dir=tmp_path / "models")
    assert cfg.train_file == Path("data/rust_elixir/train.jsonl")
    assert cfg.eval_file == Path("data/rust_elixir/eval.jsonl")
    assert cfg.output_dir == Path("runs/codet5p-770m-rust-elixir")
    assert cfg.epochs == 12 and cfg.learning_rate == 2e-4
    assert cfg.cross_language_learning is True and cfg.rust_weight == 1.0 and cfg.elixir_weight == 1.0
    assert cfg.models_dir == tmp_path / "models"
    assert cfg.lora is True and cfg.base_model == "demo" and cfg.allow_download is False and cfg.resume is False
    assert cfg.gradient_checkpointing is False


def test_unset_epochs_rate_and_modules_follow_the_base(tmp_path):
    from rxt5_assets.training.config import PRODUCTION_DEFAULTS, SMALL_BASE_DEFAULTS

    demo = config_from_args(_parser().parse_args(["--train-file", "t.jsonl", "--output-dir", "o"]), tmp_path)
    seed = config_from_args(_parser().parse_args(["--train-file", "t.jsonl", "--output-dir", "o", "--base-model",
                                                  "Salesforce/codet5p-770m"]), tmp_path)
    mine = config_from_args(_parser().parse_args(["--train-file", "t.jsonl", "--output-dir", "o",
                                                  "--lora-target-modules", "q,k", "--epochs", "2"]), tmp_path)
    fields = ("epochs", "learning_rate", "lora_target_modules", "lora_r", "lora_alpha", "lora_trainable_tokens")
    assert tuple(getattr(demo, f) for f in fields) == tuple(SMALL_BASE_DEFAULTS[f] for f in fields)
    assert tuple(getattr(seed, f) for f in fields) == tuple(PRODUCTION_DEFAULTS[f] for f in fields)
    assert (mine.epochs, mine.lora_target_modules) == (2, ("q", "k"))
    tokens = config_from_args(_parser().parse_args(["--train-file", "t.jsonl", "--output-dir", "o",
                                                    "--lora-trainable-tokens", "0"]), tmp_path)
    assert tokens.lora_trainable_tokens == 0 and demo.lora_trainable_tokens == 2000


def test_all_flags(tmp_path):
    ns = _parser().parse_args([
        "--train-file", "t.jsonl", "--output-dir", "out", "--no-cross-language-learning", "--rust-weight", "2",
        "--elixir-weight", "0.5", "--cross-language-weight", "3", "--train-batch-size", "2",
        "--gradient-accumulation", "16", "--base-model", "Salesforce/codet5p-220m", "--no-lora", "--resume",
        "--seed", "7", "--max-steps", "5", "--allow-download", "--lora-r", "8", "--lora-alpha", "16",
        "--lora-dropout", "0.1", "--precision", "fp32", "--gradient-checkpointing"])
    cfg = config_from_args(ns, models_dir=tmp_path)
    assert (cfg.cross_language_learning, cfg.rust_weight, cfg.elixir_weight, cfg.cross_language_weight) == \
        (False, 2.0, 0.5, 3.0)
    assert (cfg.train_batch_size, cfg.gradient_accumulation, cfg.max_steps, cfg.seed) == (2, 16, 5, 7)
    assert cfg.base_model == "Salesforce/codet5p-220m" and cfg.lora is False and cfg.resume and cfg.allow_download
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.precision) == (8, 16, 0.1, "fp32")
    assert cfg.gradient_checkpointing is True and cfg.hyperparameters()["gradient_checkpointing"] is True
    assert cfg.eval_file is None


def test_every_flag_has_help_and_required_ones_are_required():
    p = _parser()
    for action in p._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and len(action.help) > 15, action.option_strings
    with pytest.raises(SystemExit):
        p.parse_args(["--output-dir", "x"])  # --train-file missing


def test_overrides_and_validation(tmp_path):
    ns = _parser().parse_args(["--train-file", "t.jsonl", "--output-dir", "o", "--epochs", "0"])
    from rxt5_assets.training.config import TrainConfigError

    with pytest.raises(TrainConfigError, match="epochs"):
        config_from_args(ns, models_dir=tmp_path)
    ns = _parser().parse_args(["--train-file", "t.jsonl", "--output-dir", "o"])
    assert config_from_args(ns, models_dir=tmp_path, logging_steps=3).logging_steps == 3
