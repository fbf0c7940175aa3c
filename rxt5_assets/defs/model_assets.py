"""Model stage: base_model → lora_adapter (fine-tuning with live progress, registered as an inactive version)."""

from pathlib import Path
from typing import Optional

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from rxt5_assets.defs.concurrency import TRAINING_POOL, tag_run_with_host
from rxt5_assets.defs.data_assets import dataset_manifest, stage_files, training_dataset
from rxt5_assets.defs.metadata import line_plot_md
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, TrainingResource, WorkspaceResource
from rxt5_assets.pipeline import train_and_register, training_session_for_dataset, unfinished_run
from rxt5_assets.training.config import TINY


def train_side_corpus(workspace: WorkspaceResource) -> list[str] | None:
    """Every accepted chunk from files on the train side of the split: the tokenizer learns the corpus's code without
    seeing a line of the evaluation files."""
    try:
        files = stage_files(workspace)  # the folder the latest training_dataset read
    except FileNotFoundError:
        return None
    try:
        train_files = files.read_examples(["repo", "file_path", "split"]).filter(pl.col("split") == "train")
        chunks = files.chunks
        files.parts(chunks)
    except FileNotFoundError:
        return None  # the trainer falls back to the training file's own text
    return (files.read_parts(chunks, columns=["repo", "file_path", "content"])
            .join(train_files.select("repo", "file_path").unique(), on=["repo", "file_path"])["content"].to_list())


@asset(
    group_name="model",
    kinds={"pytorch", "huggingface"},
    description=(
        "The base model, a root of the graph: it never sees the organisation's data. `demo` (default): the small T5 "
        "shipped with rxt5, pretrained on public Rust and Elixir code (its model card says which); a Hugging Face id "
        "such as Salesforce/codet5p-770m or a local path, loaded from the local cache (never downloaded unless "
        "allowed); or `tiny`, built from scratch on the org's training split by lora_adapter (for comparison only)."
    ),
)
def base_model(context: AssetExecutionContext, training: TrainingResource, workspace: WorkspaceResource
               ) -> MaterializeResult:
    from rxt5_assets.training.base_model import load_base_model, resolve_base_path
    from rxt5_assets.training.tiny import is_complete_base, read_tiny_metadata, weights_fingerprint

    models_dir = workspace.folder("models")
    path = resolve_base_path(training.base_model, models_dir=models_dir)
    if training.base_model == TINY and not is_complete_base(path):
        context.log.info("the `tiny` base is built from the org's training split when lora_adapter first runs")
        return MaterializeResult(metadata={"base_model": TINY, "path": MetadataValue.path(path),
                                           "status": "built by lora_adapter on first use"})
    context.log.info(f"loading base model {training.base_model} from {path}")
    model, tokenizer = load_base_model(training.base_model, models_dir=models_dir,
                                       allow_download=training.allow_download)
    config = model.config
    metadata = {
        "base_model": training.base_model,
        "path": MetadataValue.path(path),
        "parameters": sum(p.numel() for p in model.parameters()),
        "d_model": config.d_model,
        "layers": f"{config.num_layers}+{config.num_decoder_layers}",
        "vocab_size": len(tokenizer),
        "weights_fingerprint": weights_fingerprint(model)[:16],
    }
    if is_complete_base(path):  # rxt5-built bases say how they were made
        built = read_tiny_metadata(path)
        metadata.update({"pretraining_steps": built.get("steps"), "pretraining_seconds": built.get("train_seconds"),
                         "pretraining_objective": built.get("spec", {}).get("objective"),
                         "pretraining_examples": built.get("examples")})
        history = built.get("eval_history") or []
        if history:
            metadata["pretraining_eval_loss"] = history[-1]["eval_loss"]
            metadata["pretraining_curve"] = line_plot_md(
                {"held-out loss": ([h["step"] for h in history], [h["eval_loss"] for h in history])},
                "pretraining (public corpus, held-out files)", "step", "loss")
        if (Path(path) / "README.md").is_file():
            metadata["model_card"] = MetadataValue.md((Path(path) / "README.md").read_text())
    return MaterializeResult(metadata=metadata)


def _active_adapter(db, training: TrainingResource, context) -> Optional[Path]:
    """The active version's adapter folder when it can be continued (a LoRA adapter of the same base), else None."""
    from rxt5_assets.db.model_versions import active_version, is_base

    with db.connect() as conn:
        active = active_version(conn)
    if active is None or is_base(active):
        context.log.info("continue_from_active: no fine-tuned version is active; training fresh from the base")
        return None
    adapter = Path(active["adapter_path"] or "")
    if active["base_model"] != training.base_model or not (adapter / "adapter_config.json").is_file():
        context.log.info(f"continue_from_active: the active version {active['version']} is not a LoRA adapter of "
                         f"{training.base_model!r}; training fresh from the base")
        return None
    context.log.info(f"continuing the active version {active['version']} ({adapter})")
    return adapter


@asset(
    group_name="model",
    kinds={"pytorch", "huggingface", "postgres"},
    deps=[base_model, training_dataset],
    pool=TRAINING_POOL,  # one training step at a time across all runs (dagster.yaml: pools default_limit 1)
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
    from rxt5_assets.worker import stop_with_parent

    # a killed run process takes this step worker down with it (else it trains on as an orphan)
    stop_with_parent(logger=context.log)
    tag_run_with_host(context)
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
        **training.train_defaults(), train_batch_size=training.train_batch_size,
        gradient_accumulation=training.gradient_accumulation, lora=training.lora,
        lora_dropout=training.lora_dropout, precision=training.precision,
        max_steps=training.max_steps, tiny_base_max_seconds=training.tiny_base_max_seconds,
        tiny_base_max_steps=training.tiny_base_max_steps, logging_steps=training.logging_steps, seed=training.seed,
        resume=resume, gradient_checkpointing=training.gradient_checkpointing,
        # the dataset already holds the weighted mix: don't weight it twice
        cross_language_learning=data_prep.cross_language_learning,
        init_adapter=None if resume or not training.continue_from_active else _active_adapter(db, training, context),
    )
    if training.base_model == TINY:
        # the comparison base built from scratch on the org's data: its tokenizer learns every train-side chunk, never
        # a line of an evaluation file (train() would otherwise build it from the training file's own text)
        from rxt5_assets.training.tiny import ensure_tiny_base

        ensure_tiny_base(config.models_dir, config.train_file, tokenizer_texts=train_side_corpus(workspace),
                         max_seconds=config.tiny_base_max_seconds, max_steps=config.tiny_base_max_steps,
                         seed=config.seed)
    from rxt5_assets.training.progress import LoggingSink  # imports transformers: only when a model step runs

    # Dagster's log manager is a logging.Logger: the CLI's LoggingSink writes progress to the run's log as is
    if training.processes > 1:
        from rxt5_assets.training.launch import train_distributed

        outcome = train_distributed(db, config, session_id=session_id, processes=training.processes,
                                    log=context.log.info)
    else:
        outcome = train_and_register(db, config, session_id=session_id, extra_sinks=[LoggingSink(context.log)],
                                     wait_for_lock=training.wait_for_lock)
    result = outcome.result
    train_points = [h for h in result.loss_history if "loss" in h]
    eval_points = [h for h in result.loss_history if "eval_loss" in h]
    curve = {"train loss": ([p["step"] for p in train_points], [p["loss"] for p in train_points])}
    if eval_points:  # from step 0, the base's loss before training, so the curve shows what training changed
        curve["eval loss"] = ([p["step"] for p in eval_points], [p["eval_loss"] for p in eval_points])
        for language in sorted(result.eval_loss_by_language):
            points = [p for p in eval_points if language in p.get("eval_loss_by_language", {})]
            curve[f"eval {language}"] = ([p["step"] for p in points],
                                         [p["eval_loss_by_language"][language] for p in points])
    return MaterializeResult(
        metadata={
            "model_version_id": outcome.model_version_id,
            "version": outcome.version,
            "training_session_id": outcome.session_id,
            "adapter_path": MetadataValue.path(str(result.adapter_dir)),
            "loss_curve": line_plot_md(curve, "loss", "step", "loss") if train_points else MetadataValue.md("_no steps_"),
            "base_eval_loss": result.base_eval_loss,
            "eval_loss": result.eval_loss,
            "relative_improvement": result.relative_improvement,
            "eval_loss_by_language": _loss_table_md("language", result.base_eval_loss_by_language,
                                                    result.eval_loss_by_language,
                                                    result.relative_improvement_by_language),
            "eval_loss_by_task": _loss_table_md("task", result.base_eval_loss_by_task, result.eval_loss_by_task,
                                                result.relative_improvement_by_task),
            # means over steps: the last logging window alone (a few batches) reads as overfitting when it is not
            "mean_train_loss": result.mean_train_loss,
            "train_loss_last_epoch": result.train_loss_last_epoch,
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


def _loss_table_md(key: str, base: dict, final: dict, improvement: dict) -> MetadataValue:
    """Base vs final eval loss per group, as Dagit renders it."""
    if not final:
        return MetadataValue.md("_no eval set_")

    def fmt(v):
        return "—" if v is None else f"{v:.4f}"

    lines = [f"| {key} | base | final | improvement |", "|---|---:|---:|---:|"]
    for name in sorted(final):
        change = improvement.get(name)
        lines.append(f"| {name} | {fmt(base.get(name))} | {fmt(final[name])} | "
                     f"{'—' if change is None else f'{100 * change:+.1f}%'} |")
    return MetadataValue.md("\n".join(lines))


MODEL_ASSETS = [base_model, lora_adapter]
