"""Model stage: base_model → lora_adapter (fine-tuning with live progress, registered as an inactive version)."""

from pathlib import Path

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from rxt5_assets.defs.data_assets import dataset_manifest, stage_files, training_dataset
from rxt5_assets.defs.metadata import line_plot_md
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, TrainingResource, WorkspaceResource
from rxt5_assets.pipeline import train_and_register, training_session_for_dataset, unfinished_run
from rxt5_assets.training.progress import LoggingSink


def train_side_corpus(workspace: WorkspaceResource) -> list[str] | None:
    """Every accepted chunk from files on the train side of the split: the tokenizer learns the corpus's code without
    seeing a line of the evaluation files."""
    files = stage_files(workspace)
    chunks, examples = files.chunks, files.examples
    if not (chunks.exists() and examples.exists()):
        return None  # the trainer falls back to the training file's own text
    train_files = pl.read_parquet(examples, columns=["repo", "file_path", "split"]).filter(pl.col("split") == "train")
    return (pl.read_parquet(chunks, columns=["repo", "file_path", "content"])
            .join(train_files.select("repo", "file_path").unique(), on=["repo", "file_path"])["content"].to_list())


@asset(
    group_name="model",
    kinds={"pytorch", "huggingface"},
    deps=[training_dataset],
    description=(
        "The base model: a Hugging Face id or local path (loaded from the local cache, never downloaded unless "
        "allowed), or `tiny` — a byte-level BPE tokenizer trained on the corpus and a small T5 trained once on the "
        "example tasks, cached so every later adapter reloads onto identical weights."
    ),
)
def base_model(
    context: AssetExecutionContext, training: TrainingResource, data_prep: DataPreparationResource,
    workspace: WorkspaceResource,
) -> MaterializeResult:
    from rxt5_assets.training.base_model import load_base_model, resolve_base_path
    from rxt5_assets.training.tiny import ensure_tiny_base, weights_fingerprint

    models_dir = workspace.folder("models")
    if training.base_model == "tiny":
        manifest = dataset_manifest(workspace, data_prep)
        ensure_tiny_base(models_dir, manifest["train_file"], tokenizer_texts=train_side_corpus(workspace),
                         max_seconds=training.tiny_base_max_seconds, max_steps=training.tiny_base_max_steps,
                         seed=training.seed)
    model, tokenizer = load_base_model(training.base_model, models_dir=models_dir,
                                       allow_download=training.allow_download)
    config = model.config
    return MaterializeResult(
        metadata={
            "base_model": training.base_model,
            "path": MetadataValue.path(resolve_base_path(training.base_model, models_dir=models_dir)),
            "parameters": sum(p.numel() for p in model.parameters()),
            "d_model": config.d_model,
            "layers": f"{config.num_layers}+{config.num_decoder_layers}",
            "vocab_size": len(tokenizer),
            "weights_fingerprint": weights_fingerprint(model)[:16],
        }
    )


@asset(
    group_name="model",
    kinds={"pytorch", "huggingface", "postgres"},
    deps=[base_model, training_dataset],
    description=(
        "LoRA fine-tuning (peft, Seq2SeqTrainer) on train.jsonl with eval loss on eval.jsonl each epoch. Every logging "
        "step lands in t5_training_progress while it runs; a killed run resumes from its last checkpoint on "
        "re-materialization. The adapter is registered as a new, inactive t5_model_versions row."
    ),
)
def lora_adapter(
    context: AssetExecutionContext, database: DatabaseResource, training: TrainingResource,
    data_prep: DataPreparationResource, workspace: WorkspaceResource,
) -> MaterializeResult:
    from rxt5_assets.training.config import TrainConfig

    db = database.database()
    manifest = dataset_manifest(workspace, data_prep)
    runs_dir = workspace.folder("runs")
    unfinished = unfinished_run(db, runs_dir, manifest["session_id"])
    if unfinished is not None:
        (output_dir, session_id), resume = unfinished, True
        context.log.info(f"resuming the interrupted run in {output_dir} (session {session_id})")
    else:
        session_id = training_session_for_dataset(db, manifest["session_id"])
        output_dir, resume = runs_dir / session_id, False
    config = TrainConfig(
        train_file=Path(manifest["train_file"]), eval_file=Path(manifest["eval_file"]), output_dir=output_dir,
        models_dir=workspace.folder("models"), base_model=training.base_model, allow_download=training.allow_download,
        epochs=training.resolved_epochs(), learning_rate=training.learning_rate, train_batch_size=training.train_batch_size,
        gradient_accumulation=training.gradient_accumulation, lora=training.lora, lora_r=training.lora_r,
        lora_alpha=training.lora_alpha, lora_dropout=training.lora_dropout, precision=training.precision,
        max_steps=training.max_steps, tiny_base_max_seconds=training.tiny_base_max_seconds,
        tiny_base_max_steps=training.tiny_base_max_steps, logging_steps=training.logging_steps, seed=training.seed,
        resume=resume,
        # the dataset already holds the weighted mix: don't weight it twice
        cross_language_learning=data_prep.cross_language_learning,
    )
    # Dagster's log manager is a logging.Logger: the CLI's LoggingSink writes progress to the run's log as is
    outcome = train_and_register(db, config, session_id=session_id, extra_sinks=[LoggingSink(context.log)])
    result = outcome.result
    train_points = [h for h in result.loss_history if "loss" in h]
    eval_points = [h for h in result.loss_history if "eval_loss" in h]
    curve = {"train loss": ([p["step"] for p in train_points], [p["loss"] for p in train_points])}
    if eval_points:
        curve["eval loss"] = ([p["step"] for p in eval_points], [p["eval_loss"] for p in eval_points])
    return MaterializeResult(
        metadata={
            "model_version_id": outcome.model_version_id,
            "version": outcome.version,
            "training_session_id": outcome.session_id,
            "adapter_path": MetadataValue.path(str(result.adapter_dir)),
            "loss_curve": line_plot_md(curve, "loss", "step", "loss") if train_points else MetadataValue.md("_no steps_"),
            "train_loss": result.train_loss,
            "eval_loss": result.eval_loss,
            "global_step": result.global_step,
            "tokens_per_second": round(result.tokens_per_second, 1),
            "train_seconds": round(result.train_seconds, 1),
            "trainable_params": result.trainable_params,
            "total_params": result.total_params,
            "precision": result.precision,
            "resumed_from_step": result.resumed_from_step or 0,
            "language_mix": MetadataValue.json(result.language_mix),
        }
    )


MODEL_ASSETS = [base_model, lora_adapter]
