"""`rxt5 train` under torchrun: two CPU processes (gloo) train one model with DDP and record it once.

`accelerate launch --multi_gpu --num_processes 2 -m rxt5_assets.cli train ...` starts the same torchrun workers (checked
by hand: same result); on CPU without that flag accelerate launches one process unless mpirun is set up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from rxt5_assets.db import Database
from rxt5_assets.training.base_model import load_base_model
from rxt5_assets.training.data import read_jsonl
from rxt5_assets.training.trainer import tokenize_examples


def test_torchrun_two_processes_record_one_session_one_version_one_adapter(
        database: Database, train_file, eval_file, models_dir, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(models_dir)  # the session's cached tiny base: nothing is rebuilt
    out = tmp_path / "out"
    env = {**os.environ, "RXT5_DATABASE_URL": database.url, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "rxt5_assets.cli", "--home", str(home), "train", "--base-model", "tiny",
               "--train-file", str(train_file), "--eval-file", str(eval_file), "--output-dir", str(out),
               "--epochs", "2", "--train-batch-size", "8", "--learning-rate", "5e-3", "--gradient-checkpointing"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert proc.stdout.count("version:") == 1  # rank 0 alone reports (and registers)

    # 48 rows, 8 per process: 3 steps an epoch, each a global batch of 16
    steps_per_epoch, steps = 3, 6
    with database.connect() as conn:
        sessions = conn.execute("select id::text, status from t5_training_sessions").fetchall()
        versions = conn.execute("select training_session_id::text, adapter_path, performance_metrics "
                                "from t5_model_versions").fetchall()
        progress = conn.execute("select kind, step, eval_loss, metrics from t5_training_progress "
                                "order by kind, step").fetchall()
    assert len(sessions) == 1 and sessions[0][1] == "completed"
    assert len(versions) == 1 and versions[0][0] == sessions[0][0]
    keys = Counter((kind, step) for kind, step, *_ in progress)
    assert max(keys.values()) == 1, keys  # one progress stream: no step recorded by both ranks
    # logging every 10 steps (the CLI's default): the first step and each epoch's end
    assert sorted(step for kind, step in keys if kind == "train") == [1, steps_per_epoch, steps]
    assert sorted(step for kind, step in keys if kind == "eval") == [0, steps_per_epoch, steps]
    assert all(set(m["eval_loss_by_language"]) == {"rust", "elixir", "rust->elixir"}
               for kind, _, _, m in progress if kind == "eval")

    adapter = Path(versions[0][1])
    assert adapter == out / "adapter" and (adapter / "adapter_model.safetensors").is_file()
    assert [p.name for p in out.glob("**/adapter_config.json")] and \
        [p.parent for p in out.glob("**/adapter_model.safetensors") if "checkpoint-" not in str(p)] == [adapter]
    meta = json.loads((adapter / "rxt5_training.json").read_text())
    assert meta["world_size"] == 2 and meta["global_step"] == steps
    assert versions[0][2]["world_size"] == 2 and meta["hyperparameters"]["gradient_checkpointing"] is True

    # each rank trained a disjoint shard: together they saw every training token exactly once an epoch
    _, tok = load_base_model("tiny", models_dir=models_dir)
    from rxt5_assets.training.fit import fit_item_targets

    examples, _ = fit_item_targets(read_jsonl(train_file), tok, 128)  # tiny's default: closed item targets
    ds = tokenize_examples(examples, tok, max_source_length=320, max_target_length=128)
    assert meta["tokens_seen"] == 2 * sum(ds.lengths)
    # and the eval losses are over the whole eval file, not one rank's half
    assert meta["eval_examples"] == len(read_jsonl(eval_file))


def test_the_training_order_depends_on_seed_and_epoch_only():
    """Every rank must draw the same order (accelerate gives each every N-th batch of it), whatever its global RNG
    went through: dropout draws as many numbers as a rank's batches have elements."""
    import torch

    from rxt5_assets.training.trainer import EpochSeededLengthGroupedSampler

    lengths = [((i * 37) % 50) + 3 for i in range(64)]
    orders = []
    for rank_draws in (0, 1000):
        torch.manual_seed(0)
        torch.rand(rank_draws)  # one rank consumed more random numbers than the other
        sampler = EpochSeededLengthGroupedSampler(8, lengths=lengths, seed=42)
        per_epoch = []
        for epoch in (0, 1):
            sampler.set_epoch(epoch)
            per_epoch.append(list(sampler))
        orders.append(per_epoch)
    assert orders[0] == orders[1]
    epoch0, epoch1 = orders[0]
    assert sorted(epoch0) == sorted(epoch1) == list(range(64)) and epoch0 != epoch1
    resumed = EpochSeededLengthGroupedSampler(8, lengths=lengths, seed=42)
    resumed.set_epoch(1)
    assert list(resumed) == epoch1  # a run resumed at epoch 1 draws epoch 1's order


def test_the_training_step_launches_its_own_ranks_and_gets_one_recorded_outcome(
        database: Database, train_file, eval_file, models_dir, tmp_path, monkeypatch):
    """What lora_adapter does with `training.processes: 2`: the caller stays one plain process, two DDP ranks train,
    rank 0 records once and hands its outcome back."""
    from rxt5_assets.training.config import TrainConfig
    from rxt5_assets.training.launch import train_distributed

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = TrainConfig(train_file=train_file, eval_file=eval_file, output_dir=tmp_path / "runs" / "s1",
                         models_dir=models_dir, base_model="tiny", epochs=1, train_batch_size=8, learning_rate=5e-3,
                         max_source_length=128, max_target_length=96, logging_steps=1)
    lines: list[str] = []
    outcome = train_distributed(database, config, session_id=None, processes=2, log=lines.append)
    assert outcome.result.hyperparameters and outcome.result.adapter_dir == tmp_path / "runs" / "s1" / "adapter"
    with database.connect() as conn:
        versions = conn.execute("select id::text, training_session_id::text, performance_metrics->>'world_size' "
                                "from t5_model_versions").fetchall()
    assert versions == [(outcome.model_version_id, outcome.session_id, "2")]
    assert any("training on 2 processes" in line for line in lines)
    assert not list((tmp_path / "runs").glob(".*"))  # the hand-over files are gone
