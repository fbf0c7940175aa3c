"""Evaluation and deployment: lora_adapter → evaluation_metrics → active_model_version (gated by a blocking check)."""

import contextlib
import warnings

import pandas as pd
from dagster import (
    AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, AssetSelection,
    MaterializeResult, MetadataValue, asset, asset_check, define_asset_job,
)
from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type
from dagster_pandas.constraints import DataFrameConstraint, DataFrameConstraintViolationException

from rxt5_assets.defs.concurrency import PROMOTION_POOL, tag_run_with_host
from rxt5_assets.defs.data_assets import dataset_manifest, training_dataset
from rxt5_assets.defs.evaluation_resources import EvaluationResource
from rxt5_assets.defs.model_assets import lora_adapter
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, WorkspaceResource

RESULT_ROLES = ("candidate", "active", "template")


@contextlib.contextmanager
def _quiet_beta():
    """dagster-pandas' frame types are marked beta; say so once here instead of on every check."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".* is currently in beta")
        yield


def _results_summary(frame: pd.DataFrame) -> dict:
    """What Dagit shows beside a passing type check: counts and the primary metric of each system."""
    primary = frame[(frame["metric"] == "primary") & (frame["language"] == "all")]
    return {
        "rows": len(frame),
        "systems": int(frame["role"].nunique()),
        "languages": MetadataValue.json(sorted(frame["language"].unique().tolist())),
        "metrics": int(frame["metric"].nunique()),
        "primary_all": MetadataValue.json({row.role: round(float(row.value), 4) for row in primary.itertuples()}),
        "value_mean": round(float(frame["value"].mean()), 4) if len(frame) else 0.0,
    }


class MetricValueInScale(DataFrameConstraint):
    """Every value lies within its metric's scale: [0, 100] for bleu/chrf (sacrebleu), [0, 1] for the rest."""

    def __init__(self):
        super().__init__(error_description="a metric value outside its scale",
                         markdown_description="each `value` within [0, scale of its `metric`]")

    def validate(self, dataframe):
        from rxt5_assets.evaluation.runner import metric_scale

        scale = dataframe["metric"].map(metric_scale)
        bad = dataframe[(dataframe["value"] < 0) | (dataframe["value"] > scale)]
        if len(bad):
            raise DataFrameConstraintViolationException(
                constraint_name="MetricValueInScale",
                constraint_description="values outside their metric's scale: " + ", ".join(
                    f"{r.metric}={r.value!r} ({r.role}, {r.language})" for r in bad.head(5).itertuples()))


def evaluation_results_type():
    """The t5_evaluation_results rows of one evaluation as a dagster-pandas frame type: known roles, languages and
    metric names, values within their metric's scale, sample counts ≥ 1, no nulls — a malformed evaluation fails its
    type check. (Built when used: the names come from the registered languages and metrics.)"""
    from rxt5_assets.evaluation.runner import known_languages, known_metric_names

    with _quiet_beta():
        return create_dagster_pandas_dataframe_type(
            name="EvaluationResultsFrame",
            description="One evaluation's metric rows (candidate, active version or base, template floor).",
            columns=[
                PandasColumn.categorical_column("role", categories=set(RESULT_ROLES), non_nullable=True),
                PandasColumn.string_column("version", non_nullable=True),
                PandasColumn.categorical_column("language", categories=set(known_languages()), non_nullable=True),
                PandasColumn.categorical_column("metric", categories=set(known_metric_names()), non_nullable=True),
                PandasColumn.float_column("value", min_value=0.0, max_value=100.0, non_nullable=True),
                PandasColumn.integer_column("sample_count", min_value=1, non_nullable=True),
            ],
            dataframe_constraints=[MetricValueInScale()],
            metadata_fn=_results_summary,
        )


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """Stored metric rows (db.evaluations.evaluation_results) as the frame the type checks."""
    return pd.DataFrame({
        "role": [r["role"] for r in rows],
        "version": [r["version"] or r["role"] for r in rows],  # the template has no version row
        "language": [r["language"] for r in rows],
        "metric": [r["metric"] for r in rows],
        "value": pd.Series([r["value"] for r in rows], dtype="float64"),
        "sample_count": pd.Series([r["sample_count"] for r in rows], dtype="int64"),
    })


def _evaluation_of_run(database: DatabaseResource, run_id: str) -> dict:
    """The evaluation this run recorded, else the newest completed one (a check or promotion run on its own)."""
    from rxt5_assets.db.evaluations import get_evaluation, latest_evaluation

    with database.database().connect() as conn:
        row = conn.execute("select id::text from t5_evaluations where dagster_run_id = %s "
                           "order by inserted_at desc limit 1", (run_id,)).fetchone()
        evaluation = get_evaluation(conn, row[0]) if row else latest_evaluation(conn)
    if evaluation is None:
        raise FileNotFoundError("no evaluation is recorded in t5_evaluations: materialize evaluation_metrics first")
    return evaluation


@asset(
    group_name="evaluation",
    kinds={"pytorch", "postgres"},
    deps=[lora_adapter, training_dataset],
    description=(
        "Generation-based evaluation on the held-out split (never the training split): the newest adapter trained on "
        "the dataset against the active version (the bare base when none is active) and the template floor, on the "
        "same sampled rows — greedy and best-of-k, per language and task, cross-language rows included. One "
        "t5_evaluation_results row per metric × language × system; summaries in t5_model_versions."
    ),
)
def evaluation_metrics(
    context: AssetExecutionContext, database: DatabaseResource, evaluation: EvaluationResource,
    data_prep: DataPreparationResource, workspace: WorkspaceResource,
) -> MaterializeResult:
    from rxt5_assets.evaluation.comparison import evaluate_versions
    from rxt5_assets.evaluation.report import comparison_table_md, decision_md, examples_md

    manifest = dataset_manifest(workspace, data_prep)
    outcome = evaluate_versions(
        database.database(), eval_file=manifest["eval_file"], models_dir=workspace.folder("models"),
        dataset_session_id=manifest["session_id"], settings=evaluation.settings(), policy=evaluation.policy(),
        dagster_run_id=context.run.run_id, examples_to_show=evaluation.examples_to_show)
    decision = outcome.decision
    cand, act = outcome.candidate["version"], outcome.active["version"]
    context.log.info(f"{cand} vs {act}: primary {decision.primary_candidate} vs {decision.primary_active} → "
                     f"{'pass' if decision.passed else 'refused'} ({outcome.seconds:.0f} s)")
    systems = outcome.systems
    return MaterializeResult(metadata={
        "evaluation_id": outcome.evaluation_id,
        "candidate": cand,
        "candidate_id": outcome.candidate["id"],
        "active": act,
        "active_is_bare_base": outcome.active_is_base,
        "passed": decision.passed,
        "primary_candidate": decision.primary_candidate,
        "primary_active": decision.primary_active,
        "primary_template": decision.primary_template,
        "primary_definition": evaluation.policy().describe(),
        "decision": MetadataValue.md(decision_md(decision.as_dict(), candidate_name=cand, active_name=act)),
        "comparison": MetadataValue.md(comparison_table_md(
            systems["candidate"].scores, systems["active"].scores, systems["template"].scores, outcome.policy,
            candidate_name=cand, active_name=act)),
        "generations": MetadataValue.md(examples_md(outcome.examples)),
        "rows_used": len(outcome.rows),
        "rows_total": outcome.rows_total,
        "sample_seed": outcome.settings.seed,
        "k": outcome.settings.k,
        "seconds": outcome.seconds,
        "seconds_by_system": MetadataValue.json(outcome.timings),
        "reused_from_cache": MetadataValue.json({role: s.cached for role, s in systems.items()}),
        "unavailable_metrics": MetadataValue.json(systems["candidate"].scores.get("unavailable", {})),
        "dagster/row_count": len(outcome.results),
    })


@asset_check(asset=evaluation_metrics, blocking=True,
             description="the stored results type-check as EvaluationResultsFrame (known languages and metrics, "
                         "values within their metric's scale, no nulls)")
def evaluation_results_well_formed(context: AssetCheckExecutionContext,
                                   database: DatabaseResource) -> AssetCheckResult:
    from rxt5_assets.db.evaluations import evaluation_results

    record = _evaluation_of_run(database, context.run.run_id)
    with database.database().connect() as conn:
        frame = results_frame(evaluation_results(conn, record["id"]))
    with _quiet_beta():
        check = evaluation_results_type().type_check(None, frame)  # the frame type's check ignores its context
    metadata = {"evaluation_id": record["id"], "type_check": check.description or "passed",
                **{k: v for k, v in (check.metadata or {}).items()}}
    return AssetCheckResult(passed=bool(check.success) and len(frame) > 0, metadata=metadata)


@asset_check(asset=evaluation_metrics, blocking=True,
             description="the gate: the candidate is not worse than the active version (or bare base) on the primary "
                         "metric, nor beyond the tolerance on any language; `evaluation.force` overrides")
def candidate_not_worse_than_active(context: AssetCheckExecutionContext, database: DatabaseResource,
                                    evaluation: EvaluationResource) -> AssetCheckResult:
    record = _evaluation_of_run(database, context.run.run_id)
    decision = record["decision"]
    passed = bool(record["passed"])
    return AssetCheckResult(
        passed=passed or evaluation.force,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(decision.get("reasons", [])),
        metadata={"evaluation_id": record["id"], "gate_passed": passed, "forced": evaluation.force and not passed,
                  "primary_candidate": decision.get("primary_candidate"),
                  "primary_active": decision.get("primary_active"),
                  "per_language": MetadataValue.json(decision.get("per_language", {}))})


@asset_check(asset=evaluation_metrics, blocking=False,
             description="the candidate's primary metric is above the template floor's (a warning, not a gate)")
def candidate_beats_template_floor(context: AssetCheckExecutionContext,
                                   database: DatabaseResource) -> AssetCheckResult:
    decision = _evaluation_of_run(database, context.run.run_id)["decision"]
    cand, floor = decision.get("primary_candidate"), decision.get("primary_template")
    passed = cand is not None and floor is not None and cand > floor
    # Dagit shows a failed WARN check as "Failed": say in words that it is a warning and what it compared
    compared = (f"candidate {cand:.3f} vs template floor {floor:.3f}" if cand is not None and floor is not None
                else "no primary metric for the candidate or the template floor")
    return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.WARN,
                            description=(f"{compared}: above the floor" if passed else
                                         f"{compared}: not above the floor (a warning, not the gate; the gate "
                                         "compares with the active version)"),
                            metadata={"primary_candidate": cand, "primary_template": floor})


@asset(
    group_name="deployment",
    kinds={"python", "postgres"},
    deps=[evaluation_metrics],
    pool=PROMOTION_POOL,  # one promotion step at a time across all runs (dagster.yaml: pools default_limit 1)
    description=(
        "Gated promotion: the evaluated candidate becomes the single active t5_model_versions row and "
        "$RXT5_HOME/models/active (the seed's fine_tuned_path) switches to it — one locked transaction and an atomic "
        "symlink swap. Runs only when candidate_not_worse_than_active passes (or evaluation.force is set)."
    ),
)
def active_model_version(
    context: AssetExecutionContext, database: DatabaseResource, evaluation: EvaluationResource,
    workspace: WorkspaceResource,
) -> MaterializeResult:
    from rxt5_assets.evaluation.promotion import fine_tuned_path, promote

    tag_run_with_host(context)
    record = _evaluation_of_run(database, context.run.run_id)
    deployment = promote(database.database(), record["candidate_version_id"], home=str(workspace.root),
                         force=evaluation.force, evaluation_id=record["id"])
    context.log.info(f"{deployment.version} is active" + ("" if deployment.changed else " (it already was)"))
    return MaterializeResult(metadata={
        "version": deployment.version,
        "model_version_id": deployment.version_id,
        "previous_version_id": deployment.previous_version_id or "",
        "changed": deployment.changed,
        "forced": deployment.forced,
        "evaluation_id": record["id"],
        "fine_tuned_path": MetadataValue.path(str(fine_tuned_path(str(workspace.root)))),
        "deployed_folder": MetadataValue.path(deployment.path),
    })


#: every retrain_job run carries it; run coordinators limit it to one at a time (dagster.yaml, deploy/)
RETRAIN_TAG = "rxt5/retrain"

retrain_job = define_asset_job(
    "retrain_job", selection=AssetSelection.all(), tags={RETRAIN_TAG: "true"},
    description="The whole graph: data → base → LoRA → evaluation → gated promotion (what the sensor will launch).")

EVALUATION_ASSETS = [evaluation_metrics, active_model_version]
EVALUATION_CHECKS = [evaluation_results_well_formed, candidate_not_worse_than_active, candidate_beats_template_floor]
