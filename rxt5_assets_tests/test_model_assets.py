"""The model stage in Dagster: base_model and lora_adapter materialize, record a version, and resume a killed run."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from transformers import TrainerCallback

from rxt5_assets.db import Database
from rxt5_assets.defs.data_assets import DATA_ASSETS, stage_files
from rxt5_assets.defs.model_assets import MODEL_ASSETS, base_model, lora_adapter, train_side_corpus
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, TrainingResource, WorkspaceResource
from rxt5_assets.ingest import ingest_demo
from rxt5_assets.pipeline import train_and_register
from rxt5_assets.training.config import TrainConfig


class InterruptAtFirstCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


def test_model_stage_trains_registers_and_resumes_a_killed_run(database: Database, tmp_path: Path):
    ingest_demo(database, progress=False)
    training = TrainingResource(epochs=2, tiny_base_max_steps=12, logging_steps=2, train_batch_size=8)
    resources = {
        "database": DatabaseResource(database_url=database.url),
        # a small dataset keeps an epoch to a few steps
        "data_prep": DataPreparationResource(workers=1, max_examples=48, min_examples=10),
        "workspace": WorkspaceResource(home=str(tmp_path)),
        "training": training,
    }
    with DagsterInstance.ephemeral() as instance:
        assert materialize([*DATA_ASSETS, base_model], resources=resources, instance=instance).success
        base = instance.get_latest_materialization_event(AssetKey("base_model")).asset_materialization.metadata
        # the shipped demo base, a root: it says how it was pretrained
        assert base["base_model"].value == "demo" and base["parameters"].value > 0
        assert base["pretraining_steps"].value > 1000 and "data:image/png;base64," in base["pretraining_curve"].value
        # the tokenizer learns from train-side files only
        corpus = set(train_side_corpus(resources["workspace"]))
        files = stage_files(resources["workspace"])  # the run folder the latest training_dataset read
        chunks = files.read_parts(files.chunks)
        evaluation = pl.read_ndjson(tmp_path / "datasets" / "rust_elixir_v1" / "eval.jsonl")
        eval_chunks = chunks.join(evaluation.select("repo", "file_path").unique(), on=["repo", "file_path"])
        assert corpus and eval_chunks.height and not corpus & set(eval_chunks["content"])

        # a run killed after its first epoch's checkpoint, exactly where the asset would run it
        manifest = json.loads((tmp_path / "datasets" / "rust_elixir_v1" / "manifest.json").read_text())
        killed = TrainConfig(train_file=Path(manifest["train_file"]), eval_file=Path(manifest["eval_file"]),
                             output_dir=tmp_path / "runs" / manifest["session_id"], models_dir=tmp_path / "models",
                             **training.train_defaults(), logging_steps=2, train_batch_size=8)
        with pytest.raises(KeyboardInterrupt):
            train_and_register(database, killed, session_id=manifest["session_id"],
                               callbacks=[InterruptAtFirstCheckpoint()])

        # re-materializing the asset continues that run instead of starting over
        result = materialize([lora_adapter], resources=resources, instance=instance,
                             selection=[lora_adapter.key])
        assert result.success
        metadata = instance.get_latest_materialization_event(AssetKey("lora_adapter")).asset_materialization.metadata
    assert metadata["resumed_from_step"].value > 0
    assert metadata["training_session_id"].value == manifest["session_id"]
    assert "data:image/png;base64," in metadata["loss_curve"].value  # the loss curve is a plot in Dagit
    # learning shows against the base: its eval loss before training, per language, and means of the train loss
    assert metadata["base_eval_loss"].value > 0 and metadata["eval_loss"].value > 0
    assert metadata["relative_improvement"].value == pytest.approx(
        1 - metadata["eval_loss"].value / metadata["base_eval_loss"].value)
    for language in ("rust", "elixir"):
        assert f"| {language} |" in metadata["eval_loss_by_language"].value
    assert metadata["mean_train_loss"].value > 0 and metadata["train_loss_last_epoch"].value > 0
    adapter = Path(metadata["adapter_path"].value)
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    assert "rust" in (adapter / "README.md").read_text().lower()  # the model card describes the data
    with database.connect() as conn:
        version = conn.execute("select is_active, training_session_id::text from t5_model_versions").fetchall()
        steps = conn.execute("select kind, step from t5_training_progress where training_session_id = %s",
                             (manifest["session_id"],)).fetchall()
        status = conn.execute("select status, stats->'training'->'resumes' from t5_training_sessions where id = %s",
                              (manifest["session_id"],)).fetchone()
    assert version == [(False, manifest["session_id"])]  # one new, inactive version
    assert len(steps) == len(set(steps))  # no duplicate progress rows across the resume
    assert status == ("completed", [metadata["resumed_from_step"].value])


def test_model_assets_are_in_the_model_group():
    assert {asset.group_names_by_key[asset.key] for asset in MODEL_ASSETS} == {"model"}


def test_epochs_default_to_the_seed_for_codet5_and_fewer_for_tiny():
    from rxt5_assets.training.config import SMALL_BASE_DEFAULTS

    assert TrainingResource().train_defaults() == SMALL_BASE_DEFAULTS
    assert TrainingResource(base_model="Salesforce/codet5p-770m").train_defaults() == {
        "epochs": 12.0, "learning_rate": 2e-4, "lora_target_modules": ("q", "v"), "lora_r": 16,
        "lora_alpha": 32, "lora_trainable_tokens": 0, "replay_ratio": 0.0, "fit_item_targets": False,
        "self_training_k": 0}  # the seed's; no tokens, no replay, targets cut as they are, no self-training
    assert TrainingResource(base_model="tiny", epochs=5).train_defaults()["epochs"] == 5
    assert TrainingResource(learning_rate=1e-3, lora_target_modules=["q"]).train_defaults()["lora_target_modules"] == ("q",)


def test_tiny_base_is_built_by_lora_adapter_with_a_train_side_tokenizer(database: Database, tmp_path: Path):
    from rxt5_assets.training.tiny import read_tiny_metadata, tiny_base_dir

    ingest_demo(database, progress=False)
    resources = {
        "database": DatabaseResource(database_url=database.url),
        "data_prep": DataPreparationResource(workers=1, max_examples=48, min_examples=10),
        "workspace": WorkspaceResource(home=str(tmp_path)),
        "training": TrainingResource(base_model="tiny", epochs=1, max_steps=3, tiny_base_max_steps=4,
                                     logging_steps=1, train_batch_size=8),
    }
    with DagsterInstance.ephemeral() as instance:
        assert materialize([*DATA_ASSETS, base_model, lora_adapter], resources=resources, instance=instance).success
    built = read_tiny_metadata(tiny_base_dir(tmp_path / "models"))
    # the tokenizer learned every train-side chunk (not the training file's own inputs and targets)
    assert built["tokenizer_texts"] == len(train_side_corpus(resources["workspace"])) > 0
